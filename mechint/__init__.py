"""mechint: mechanistic interpretability for multilingual LLM safety research.

Load a model (:func:`load_model`; also one held by nnsight, a TransformerLens bridge or a
transformers pipeline, :mod:`mechint.interop`), name its activations in TransformerLens vocabulary
(``blocks.{l}.hook_resid_post`` ...), read and write them with one hook engine
(:meth:`Model.hooks`), and collect them over data sets (:func:`collect`, :class:`ActivationStore`) or
diff them between two checkpoints (:func:`activation_shift`);
tune a model (:func:`sft`, :func:`dpo`) into a cached folder that :func:`load_model` reads; judge
whether generated responses are refusals, in 18 languages (:func:`is_refusal`); score
multiple-choice answers from the first token, with a prefill (:func:`score_mcqa`); tell the
language of generated text, sentence by sentence (:func:`language_mix`, :func:`quote_and_think`,
:func:`reasoning_language`); prefill a response with an affirmative opening in 14 languages
(:func:`affirmative_prefill`); monitor a generation with a probe, token by token, and stop it
(:func:`monitor_generation`).
"""

from . import (
    _validate,
    alignment,
    chat,
    data,
    diffing,
    eval,
    interop,
    monitor,
    neurons,
    patching,
    placement,
    positions,
    prefixes,
    probes,
    refusal,
    stats,
    tuning,
    weights,
)
from .activations import (
    Activations,
    ActivationStore,
    DamagedShardError,
    StoreError,
    collect,
    collect_stats,
)
from .alignment import bilingual_retrieval, retrieval, retrieval_matrix, sentence_embeddings
from .chat import ChatTemplateError
from .diffing import ActivationShift, activation_shift, sign_agreement, top_units, unit_overlap
from .directions import (
    auroc,
    cosine,
    cosine_across,
    diff_in_means,
    pca_direction,
    per_language_directions,
    standardised_direction,
    transfer_auroc,
    within_group_std,
)
from .eval import (
    MCItem,
    MCQAResult,
    PrefillTokenError,
    affirmative_prefill,
    identify_languages,
    language_mix,
    open_ended_mcqa,
    permutation_consistency,
    quote_and_think,
    reasoning_language,
    score_mcqa,
)
from .families import FAMILIES, Family, UnsupportedArchitectureError
from .hooks import HookContext, add_value, from_text_start, record, save, scale_value, set_value
from .interop import (
    InteropError,
    NNsightSite,
    activation_cache_sites,
    nnsight_read,
    nnsight_sites,
    to_activation_cache,
)
from .interventions import AblateDirection, AddDirection, EditNeurons, Intervention, intervene, intervention_hooks
from .lens import LogitLens, logit_lens
from .model import Model, TokenError, load_model
from .monitor import (
    Generation,
    MonitorCurves,
    PrefixAUROC,
    ProbeMonitor,
    generate_with_activations,
    monitor_generation,
    prefix_monitor_auroc,
    prefix_probe_auroc,
    text_prefix_auroc,
)
from .neurons import (
    Neuron,
    neuron_activation_stats,
    neuron_cosines,
    neuron_edits,
    promoted_tokens,
    readable_token,
    top_neurons,
    value_vectors,
    vocab_projection,
)
from .patching import PatchResult, activation_patch, attribution_correlation, attribution_patch
from .placement import DeviceMapError
from .positions import ALL_POSITIONS, from_prompt_end
from .probes import Probe, cross_validate, early_prediction, fit_probes, select_layer, transfer_matrix
from .refusal import JUDGE_LANGUAGES, RefusalVerdict, explain_refusal, is_refusal, judge_refusals, refusal_score
from .sites import Site, UnknownSiteError
from .stats import RunningMoments
from .tuned_lens import LensDivergence, TunedLens, TunedLensFit, lens_divergence, train_tuned_lens
from .tuning import LoraSpec, TuningConfig, TuningResult, dpo, sft


def __getattr__(name: str):
    # mechint.metrics is deprecated (now mechint.patching.metrics): imported, and so warned about,
    # only when used (`mechint.metrics`, `from mechint import metrics`), not by `import mechint`.
    # Its import warning is passed on as the caller's, so that it shows where the old name is used.
    if name == "metrics":
        import importlib
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(".metrics", __name__)
        for w in caught:
            _validate.warn_at_caller(str(w.message), w.category)
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALL_POSITIONS",
    "ChatTemplateError",
    "from_prompt_end",
    "Neuron",
    "bilingual_retrieval",
    "neuron_activation_stats",
    "neuron_cosines",
    "neuron_edits",
    "promoted_tokens",
    "readable_token",
    "retrieval",
    "retrieval_matrix",
    "sentence_embeddings",
    "top_neurons",
    "value_vectors",
    "vocab_projection",
    "AblateDirection",
    "AddDirection",
    "EditNeurons",
    "Intervention",
    "auroc",
    "intervene",
    "pca_direction",
    "per_language_directions",
    "standardised_direction",
    "transfer_auroc",
    "within_group_std",
    "ActivationStore",
    "DamagedShardError",
    "StoreError",
    "TokenError",
    "Activations",
    "FAMILIES",
    "Family",
    "HookContext",
    "Model",
    "RunningMoments",
    "Site",
    "UnknownSiteError",
    "UnsupportedArchitectureError",
    "add_value",
    "from_text_start",
    "collect",
    "collect_stats",
    "cosine",
    "cosine_across",
    "alignment",
    "chat",
    "data",
    "neurons",
    "patching",
    "positions",
    "prefixes",
    "probes",
    "refusal",
    "stats",
    "tuning",
    "weights",
    "diffing",
    "ActivationShift",
    "activation_shift",
    "sign_agreement",
    "top_units",
    "unit_overlap",
    "LoraSpec",
    "TuningConfig",
    "TuningResult",
    "sft",
    "dpo",
    "diff_in_means",
    "LogitLens",
    "logit_lens",
    "TunedLens",
    "TunedLensFit",
    "LensDivergence",
    "train_tuned_lens",
    "lens_divergence",
    "load_model",
    "placement",
    "DeviceMapError",
    "interop",
    "InteropError",
    "NNsightSite",
    "activation_cache_sites",
    "nnsight_read",
    "nnsight_sites",
    "to_activation_cache",
    "record",
    "save",  # deprecated: record
    "intervention_hooks",  # deprecated: intervene / interventions.hook_pairs
    "scale_value",
    "set_value",
    "PatchResult",
    "activation_patch",
    "attribution_patch",
    "attribution_correlation",
    "Probe",
    "cross_validate",
    "early_prediction",
    "fit_probes",
    "select_layer",
    "transfer_matrix",
    "JUDGE_LANGUAGES",
    "RefusalVerdict",
    "explain_refusal",
    "is_refusal",
    "judge_refusals",
    "refusal_score",
    "eval",
    "MCItem",
    "MCQAResult",
    "score_mcqa",
    "permutation_consistency",
    "open_ended_mcqa",
    "monitor",
    "Generation",
    "MonitorCurves",
    "PrefixAUROC",
    "ProbeMonitor",
    "generate_with_activations",
    "monitor_generation",
    "prefix_monitor_auroc",
    "prefix_probe_auroc",
    "text_prefix_auroc",
    "identify_languages",
    "language_mix",
    "quote_and_think",
    "reasoning_language",
    "PrefillTokenError",
    "affirmative_prefill",
]
