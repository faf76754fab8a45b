"""TransformerLens as the oracle for activation patching.

``transformer_lens.patching.get_act_patch_resid_pre`` / ``_attn_out`` / ``_mlp_out`` /
``_attn_head_out_all_pos`` run one forward per cell through a ``TransformerBridge`` built around a
deep copy of the same Hugging Face module; ``mechint.patching.activation_patch`` must give the same
sweep (its mean over pairs; TransformerLens's metric is the batch mean) within 1e-5 in float32, on
every family TransformerLens supports. The Gemma 3 model mixes sliding and full attention layers
with a window shorter than the prompt, so both mask kinds are exercised.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from conftest import FP32_TOL
from test_oracle_transformer_lens import TL_ARCHITECTURES, _tl_supported
from test_patching import make, pairs

from mechint.patching import activation_patch
from mechint.patching.metrics import logit_diff
from mechint.testing import FAMILY_NAMES

tl_sources = pytest.importorskip(
    "transformer_lens.model_bridge.sources", reason="transformer-lens is not installed (dev extra)"
)
tl_patching = pytest.importorskip("transformer_lens.patching")

TL_FUNCTIONS = {
    "resid_pre": "get_act_patch_resid_pre",
    "attn_out": "get_act_patch_attn_out",
    "mlp_out": "get_act_patch_mlp_out",
    "z": "get_act_patch_attn_head_out_all_pos",
}


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_activation_patch_equals_transformer_lens(family, device, make_model):
    arch = TL_ARCHITECTURES[family]
    if arch not in _tl_supported():
        pytest.skip(f"this TransformerLens has no adapter for {arch}")
    model = make(make_model, family, device=device)
    hf_copy = copy.deepcopy(model.hf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = tl_sources.build_bridge_from_module(hf_copy, arch, hf_config=hf_copy.config).eval()
    clean, corrupted = pairs(2, 12, seed=21, changed=(3, 7, 10))
    clean, corrupted = clean.to(device), corrupted.to(device)
    metric = logit_diff([5, 9], [7, 11])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, clean_cache = bridge.run_with_cache(clean)
    for component, fn_name in TL_FUNCTIONS.items():
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = getattr(tl_patching, fn_name)(
                bridge, corrupted, clean_cache, lambda logits: metric(logits).mean()
            )
        ours = activation_patch(model, clean, corrupted, metric, component=component)
        assert ours.mean().shape == expected.shape, component
        expected = expected.float().cpu()
        assert expected.std() > 1e-5, f"{family} {component}: the sweep is flat, the test would prove nothing"
        torch.testing.assert_close(
            ours.mean(),
            expected,
            rtol=FP32_TOL,
            atol=FP32_TOL,
            msg=lambda m, c=component, f=fn_name: f"{family} {c} vs TL {f}: {m}",
        )
