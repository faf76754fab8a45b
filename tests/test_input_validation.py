"""Bad input at the public entry points gives an error that names the argument, what was given and
what is allowed, raised before anything runs; and values that would be silently wrong (a NaN row,
an integer hook result, a text past the position table) are refused by name."""

from __future__ import annotations

import pytest
import torch

import mechint
from mechint import TokenError, UnknownSiteError, collect
from mechint.testing import tiny_model

pytestmark = pytest.mark.bad_input

TEXTS = ["The weather is nice today.", "今天天气很好。"]


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", seed=0)


@pytest.fixture(scope="module")
def gpt2():
    return tiny_model("gpt2", seed=0)  # learned position table of 256 positions


# ---------------------------------------------------------------------------------------------
# collect's arguments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"pool": None}, ValueError, r"pool must be one of 'last', 'mean', 'all', got None \(NoneType\)"),
        ({"pool": "lats"}, ValueError, r"got 'lats' \(str\) \(did you mean 'last'\?\)"),
        ({"batch_size": "2"}, TypeError, r"batch_size must be an integer >= 1, got '2' \(str\)"),
        ({"batch_size": 2.0}, TypeError, r"batch_size must be an integer >= 1, got 2.0 \(float\)"),
        ({"batch_size": True}, TypeError, r"batch_size must be an integer >= 1, got True \(bool\)"),
        ({"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1, got 0"),
        ({"max_length": -5}, ValueError, r"max_length must be an integer >= 1 or None, got -5"),
        ({"dtype": "float13"}, ValueError, r"dtype must be a torch.dtype or its name .*got 'float13'"),
        ({"dtype": 32}, TypeError, r"dtype must be a torch.dtype or its name .*got 32 \(int\)"),
        ({"store": 3}, TypeError, r"store must be None, True, a folder path or an ActivationStore, got 3 \(int\)"),
        ({"store": "x", "shard_size": 0}, ValueError, r"shard_size must be an integer >= 1 or None, got 0"),
    ],
)
def test_collect_names_the_bad_argument(model, tmp_path, kwargs, error, message):
    if kwargs.get("store") == "x":
        kwargs = {**kwargs, "store": tmp_path / "s"}
    with pytest.raises(error, match=message):
        collect(model, TEXTS, "blocks.0.hook_resid_post", progress=False, **kwargs)
    assert not (tmp_path / "s").exists()  # refused before a store folder is made


def test_collect_takes_a_dtype_name_as_load_model_does(model):
    got = collect(model, TEXTS, "blocks.0.hook_resid_post", dtype="bfloat16", progress=False)
    want = collect(model, TEXTS, "blocks.0.hook_resid_post", dtype=torch.bfloat16, progress=False)
    assert got["blocks.0.hook_resid_post"].dtype == torch.bfloat16
    assert torch.equal(got["blocks.0.hook_resid_post"], want["blocks.0.hook_resid_post"])


@pytest.mark.parametrize(
    "texts, error, message",
    [
        (None, TypeError, r"texts must be a string, a list of strings or a data set, got None"),
        (5, TypeError, r"texts must be a string, a list of strings or a data set, got 5 \(int\)"),
        ([], ValueError, r"no texts given"),
        (["ok", 3], TypeError, r"item 1 is 3 \(int\)"),
    ],
)
def test_collect_names_bad_texts(model, texts, error, message):
    with pytest.raises(error, match=message):
        collect(model, texts, "blocks.0.hook_resid_post", progress=False)


# ---------------------------------------------------------------------------------------------
# Site names
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [3, None, 2.5])
def test_a_site_that_is_not_a_string_is_named(model, bad):
    with pytest.raises(TypeError, match=r"site names are strings such as 'blocks.3.hook_resid_post', got"):
        model.sites(bad)
    with pytest.raises(TypeError, match="site names are strings"):
        model.sites(["blocks.0.hook_resid_post", bad])
    with pytest.raises(TypeError, match="site names are strings"):
        with model.hooks([(bad, lambda x, ctx: None)]):
            pass


def test_a_layer_with_leading_zeros_is_not_a_second_name(model):
    with pytest.raises(UnknownSiteError, match=r"without leading zeros \(did you mean 'blocks.1.hook_resid_post'\?\)"):
        model.site("blocks.01.hook_resid_post")
    assert model.site("blocks.0.hook_resid_post").layer == 0
    assert model.site("blocks.1.hook_resid_post").layer == 1


# ---------------------------------------------------------------------------------------------
# Hook results: dtype class and device, as well as shape
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda x: torch.zeros(x.shape, dtype=torch.long),
        lambda x: torch.zeros(x.shape, dtype=torch.bool),
        lambda x: x > 0,
    ],
)
def test_a_hook_returning_an_integer_or_boolean_tensor_is_refused(model, make):
    with pytest.raises(
        TypeError,
        match=r"a hook at blocks.1.hook_resid_post returned a torch.(int64|bool) tensor "
        r"for a torch.float32 activation",
    ):
        with model.hooks([("blocks.1.hook_resid_post", lambda x, ctx: make(x))]):
            model(TEXTS)


def test_a_hook_returning_a_tensor_on_another_device_is_refused(model):
    with pytest.raises(ValueError, match="returned a tensor on meta for an activation on cpu"):
        with model.hooks([("blocks.1.hook_resid_post", lambda x, ctx: torch.empty(x.shape, device="meta"))]):
            model(TEXTS)


def test_a_hook_may_return_another_float_dtype(model):
    with model.hooks([("blocks.1.hook_resid_post", lambda x, ctx: x.double())]):
        out = model(TEXTS)
    assert torch.allclose(out, model(TEXTS), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# NaN rows in directions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [mechint.diff_in_means, mechint.standardised_direction, mechint.pca_direction])
def test_directions_refuse_non_finite_rows_by_row(fn):
    acts = torch.randn(2, 8, 5)
    acts[1, 3, 2] = float("nan")
    acts[0, 6, 0] = float("inf")
    labels = [0, 1] * 4
    with pytest.raises(ValueError, match=r"2 NaN or infinite value\(s\), in 2 of its 8 rows \(rows 3, 6\)"):
        fn(acts, labels)
    acts = torch.nan_to_num(acts)
    assert torch.isfinite(fn(acts, labels)).all()


# ---------------------------------------------------------------------------------------------
# Texts past the position table
# ---------------------------------------------------------------------------------------------


def test_run_with_cache_on_a_text_past_the_position_table_names_it(gpt2):
    long = "a" * 300  # BOS + 300 byte tokens, GPT-2 table of 256
    with pytest.raises(
        TokenError, match=r"text 1 has more tokens \(up to 301\) than the 256 positions.*max_length=256"
    ):
        gpt2.run_with_cache(["short", long], "blocks.0.hook_resid_post")
    with pytest.raises(TokenError, match="max_length"):
        gpt2(long)
    gpt2.run_with_cache(["short", "a" * 250], "blocks.0.hook_resid_post")  # within the table: runs


def test_generate_past_the_position_table_names_it(gpt2):
    prompt = "a" * 250  # BOS + 250 tokens
    with pytest.raises(
        TokenError,
        match=r"up to 251 tokens, which with max_new_tokens=10 run past the 256 "
        r"positions.*at most 5 new tokens",
    ):
        gpt2.generate([prompt], max_new_tokens=10)
    assert len(gpt2.generate([prompt], max_new_tokens=5, return_tokens=True)[0]) == 256
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 1, got 0"):
        gpt2.generate(["hi"], max_new_tokens=0)


def test_rotary_models_have_no_position_limit(model):
    assert model.position_limit is None
    model.run_with_cache(["a" * 300], "blocks.0.hook_resid_post")


# ---------------------------------------------------------------------------------------------
# Text labels
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [["harmful", "harmless"] * 10, ["1", "0"] * 10, "1010"])
def test_text_labels_are_refused_by_name(labels):
    x = torch.randn(20, 8)
    message = r"labels must be (0/1 integers or booleans|a sequence of 0/1 integers)"
    with pytest.raises(TypeError, match=message):
        mechint.fit_probes(x, labels)
    with pytest.raises(TypeError, match=message):
        mechint.diff_in_means(x, labels)
    with pytest.raises(TypeError, match=message):
        mechint.probes.binary_metrics(torch.randn(20), labels)
    with pytest.raises(TypeError, match=message):
        mechint.cross_validate(x, labels, [0, 1] * 10)


def test_text_labels_error_says_how_to_map_them():
    with pytest.raises(TypeError, match=r"\[int\(label == 'harmful'\) for label in labels\]"):
        mechint.fit_probes(torch.randn(4, 3), ["harmful", "harmless", "harmful", "harmless"])


# ---------------------------------------------------------------------------------------------
# Model inputs and hooks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inputs, error, message",
    [
        (
            123,
            TypeError,
            r"inputs must be a text, a list of texts, token ids \[batch, pos\] or an encoding dict, got 123",
        ),
        (None, TypeError, "inputs must be a text"),
        (torch.tensor(5), TypeError, "inputs must be a text"),
        (["a", 3], TypeError, r"item 1 is 3 \(int\)"),
        (torch.tensor([[1.0, 2.0]]), TypeError, "input ids must be integer token ids, got a torch.float32 tensor"),
        (
            torch.tensor([[1, 2, 9999]]),
            ValueError,
            r"token ids must be in 0..258 \(the vocabulary\), got ids from 1 to 9999",
        ),
        (torch.tensor([[1, -2, 3]]), ValueError, "token ids must be in 0..258"),
        (torch.ones(2, 2, 2, dtype=torch.long), ValueError, r"input ids must be \[batch, pos\], got shape \(2, 2, 2\)"),
        ({"attention_mask": torch.ones(1, 3)}, ValueError, "an encoding needs 'input_ids'"),
    ],
)
def test_forward_names_bad_inputs(model, inputs, error, message):
    with pytest.raises(error, match=message):
        model(inputs)


def test_a_row_that_attends_to_nothing_is_refused(model):
    ids = torch.tensor([[5, 6, 7], [5, 6, 7]])
    with pytest.raises(ValueError, match=r"rows \[1\] of attention_mask attend to no token"):
        model(ids, attention_mask=torch.tensor([[1, 1, 1], [0, 0, 0]]))


def test_tokenize_and_chat_arguments(model):
    with pytest.raises(TypeError, match="texts must be a string, a list of strings or a data set, got 5"):
        model.to_tokens(5)
    with pytest.raises(ValueError, match="max_length must be an integer >= 1 or None, got 0"):
        model.to_tokens("hello", max_length=0)
    with pytest.raises(TypeError, match=r"max_length must be an integer >= 1 or None, got '3' \(str\)"):
        model.to_tokens("hello", max_length="3")
    with pytest.raises(ValueError, match=r"one text or one row of token ids, got shape \(2, 2\)"):
        model.to_str_tokens(torch.tensor([[1, 2], [3, 4]]))
    with pytest.raises(TypeError, match=r"turn 0 must be a mapping"):
        model.format_chat(["a", "b"])
    with pytest.raises(TypeError, match=r"return_tokens must be True or False, got 'no' \(str\)"):
        model.generate("hi", max_new_tokens=2, return_tokens="no")


@pytest.mark.parametrize(
    "hooks, message",
    [
        (
            [("blocks.0.hook_resid_post", 5)],
            r"the hook function for 'blocks.0.hook_resid_post' is not callable: 5 \(int\)",
        ),
        (["blocks.0.hook_resid_post"], r"each hook is a \(site, fn\) pair, got 'blocks.0.hook_resid_post' \(str\)"),
        ([("blocks.0.hook_resid_post",)], r"each hook is a \(site, fn\) pair"),
        ([("blocks.0.hook_resid_post", lambda x: None)], r"cannot be called as fn\(activation, ctx\)"),
    ],
)
def test_hooks_are_checked_when_registered(model, hooks, message):
    with pytest.raises(TypeError, match=message):
        with model.hooks(hooks):
            raise AssertionError("the context must not be entered")  # pragma: no cover
    assert model.active_hooks == 0


# ---------------------------------------------------------------------------------------------
# load_model
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [123, None, ["a"]])
def test_load_model_names_a_spec_of_the_wrong_type(spec):
    with pytest.raises(TypeError, match=r"load_model takes an embedded model name, a folder or .gguf path.*got"):
        mechint.load_model(spec)


def test_load_model_names_folders_and_files_it_cannot_load(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds neither a Hugging Face model .config.json. nor a .gguf file"):
        mechint.load_model(tmp_path)
    text = tmp_path / "model.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match="is a file but not a .gguf model file"):
        mechint.load_model(text)


@pytest.mark.parametrize(
    "device, message",
    [
        ("gpu", "device must be a device such as 'cpu', 'cuda' or 'cuda:0', got 'gpu'"),
        (3.5, r"device must be a device such as 'cpu' or 'cuda:0', got 3.5 \(float\)"),
        ("cuda:9", "cuda:9"),
    ],
)
def test_load_model_checks_the_device(model, device, message):
    if device == "cuda:9" and torch.cuda.device_count() > 9:  # pragma: no cover
        pytest.skip("this machine has ten GPUs")
    with pytest.raises((ValueError, TypeError), match=message):
        mechint.load_model(model.hf, tokenizer=model.tokenizer, device=device)


def test_load_model_checks_the_module_and_tokenizer(model):
    with pytest.raises(
        TypeError, match=r"tokenizer must be a Hugging Face tokenizer object, got 'gpt2' \(str\): load it"
    ):
        mechint.load_model(model.hf, tokenizer="gpt2")
    with pytest.raises(TypeError, match="wraps a Hugging Face causal LM .an nn.Module with a .config., got Linear"):
        mechint.load_model(torch.nn.Linear(3, 3), tokenizer=model.tokenizer)


def test_load_model_of_a_model_applies_dtype_and_tokenizer():
    m = tiny_model("llama", seed=1)
    same = mechint.load_model(m)
    assert same is m
    half = mechint.load_model(m, dtype="bfloat16")
    assert half.dtype == torch.bfloat16 and m.dtype == torch.bfloat16  # in place, like nn.Module.to
    from mechint.testing import byte_tokenizer

    tok = byte_tokenizer()
    other = mechint.load_model(m, tokenizer=tok)
    assert other.tokenizer is tok and other.hf is m.hf


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, "int32"])
def test_collect_refuses_a_non_float_dtype(model, dtype):
    with pytest.raises(ValueError, match="dtype must be a floating-point dtype"):
        collect(model, TEXTS, "blocks.0.hook_resid_post", dtype=dtype, progress=False)


def test_activations_stack_and_store_load_name_their_problems(model, tmp_path):
    acts = collect(model, TEXTS, ["blocks.0.hook_resid_post", "blocks.0.attn.hook_z"], progress=False)
    with pytest.raises(
        ValueError, match=r"stack needs sites of one shape, these differ: blocks.0.hook_resid_post \(2, 64\)"
    ):
        acts.stack()
    assert acts.stack("blocks.0.hook_resid_post").shape == (1, 2, 64)
    collect(
        model, TEXTS, ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"], store=tmp_path / "s", progress=False
    )
    one = mechint.ActivationStore(tmp_path / "s").load("blocks.1.hook_resid_post")  # one name, not its letters
    assert list(one) == ["blocks.1.hook_resid_post"]


def test_running_moments_refuse_rows_of_another_shape():
    stats = mechint.RunningMoments().update(torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"statistics of shape \(4,\); rows of shape \(5,\) cannot join them"):
        stats.update(torch.ones(3, 5))


# ---------------------------------------------------------------------------------------------
# Patching
# ---------------------------------------------------------------------------------------------


def test_normalized_warns_when_clean_and_corrupted_are_equal(model):
    from mechint.patching.metrics import logit_diff

    same = mechint.activation_patch(model, "hello there", "hello there", logit_diff([5], [6]), layers=[0])
    with pytest.warns(UserWarning, match=r"clean and corrupted metrics are equal for pair\(s\) \[0\] \(1 of 1\)"):
        normalized = same.normalized()
    assert torch.isnan(normalized).all()
    differ = mechint.activation_patch(model, "hello there", "jello there", logit_diff([5], [6]), layers=[0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.isfinite(differ.normalized()).any()


def test_a_nan_metric_is_named(model):
    nan_metric = lambda logits: logits[:, -1, 0] * float("nan")  # noqa: E731
    with pytest.raises(ValueError, match=r"is NaN or infinite on the clean run of pair\(s\) \[0\]"):
        mechint.activation_patch(model, "hello", "jello", nan_metric)
    with pytest.raises(ValueError, match="is NaN or infinite on the clean run"):
        mechint.attribution_patch(model, "hello", "jello", nan_metric)


def test_patching_arguments_are_checked(model):
    metric = lambda logits: logits[:, -1, 0]  # noqa: E731
    with pytest.raises(TypeError, match=r"batch_size must be an integer >= 1 or None, got '2' \(str\)"):
        mechint.activation_patch(model, "hello", "jello", metric, batch_size="2")
    with pytest.raises(TypeError, match=r"batch_size must be an integer >= 1 or None, got '2' \(str\)"):
        mechint.attribution_patch(model, "hello", "jello", metric, batch_size="2")
    with pytest.raises(
        TypeError, match=r"exact must be a PatchResult of the same sweep, True, False or None, got 'yes'"
    ):
        mechint.attribution_patch(model, "hello", "jello", metric, exact="yes")
    argmax = lambda logits: logits.argmax(-1)[:, -1].float()  # noqa: E731
    with pytest.raises(ValueError, match="is not differentiable"):
        mechint.attribution_patch(model, "hello", "jello", argmax)


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def test_save_figure_refuses_a_folder_an_unknown_format_and_a_non_figure(tmp_path):
    import plotly.graph_objects as go

    from mechint.plots import save_figure

    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))
    with pytest.raises(IsADirectoryError, match="is a folder: give the figure's file name inside it"):
        save_figure(fig, tmp_path)
    with pytest.raises(ValueError, match="unknown figure format 'gif'"):
        save_figure(fig, tmp_path / "x.gif")
    with pytest.raises(TypeError, match="save_figure takes a plotly Figure, got NoneType"):
        save_figure(None, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_plots_refuse_empty_data_and_labels_that_do_not_fit(model):
    from mechint.plots import (
        plot_edit_effect,
        plot_layer_heatmap,
        plot_layer_lines,
        plot_patching_heatmap,
        plot_top_neurons,
    )

    with pytest.raises(ValueError, match="nothing to plot"):
        plot_layer_lines({}, yaxis_title="y")
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_layer_heatmap(torch.ones(0, 4), row_labels=[], colorbar_title="c")
    with pytest.raises(ValueError, match="no neurons to plot"):
        plot_top_neurons([], [], layers=[])
    with pytest.raises(ValueError, match=r"errors has conditions \['b'\] that effects lacks"):
        plot_edit_effect({"a": {"en": 1.0}}, yaxis_title="y", errors={"b": {"en": 0.1}})
    result = mechint.activation_patch(model, "hello", "jello", lambda logits: logits[:, -1, 0])
    with pytest.raises(ValueError, match="tokens has 1 labels, the result has 6 positions"):
        plot_patching_heatmap(result, tokens=["a"])
    fig = plot_patching_heatmap(result, layers=["first", "second", "third"])  # relabels; untitled is fine
    assert list(fig.data[0].y) == ["first", "second", "third"]
    assert fig.layout.title.text.startswith("<sup>")  # untitled: the note alone


# ---------------------------------------------------------------------------------------------
# Hook writers and interventions: values checked when built
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: mechint.set_value(torch.full((64,), float("nan"))),
            ValueError,
            "the value to set has non-finite entries",
        ),
        (
            lambda: mechint.add_value(torch.full((64,), float("inf"))),
            ValueError,
            "the value to add has non-finite entries",
        ),
        (lambda: mechint.scale_value(float("nan")), ValueError, "the value to scale has non-finite entries"),
        (
            lambda: mechint.add_value("1.0"),
            TypeError,
            r"the value to add must be a tensor, a number or a function.*'1.0' \(str\)",
        ),
        (lambda: mechint.scale_value(None), TypeError, "the value to scale must be a tensor"),
        (lambda: mechint.record([]), TypeError, r"record stores into a dict .site name -> tensor., got \[\] \(list\)"),
    ],
)
def test_hook_writers_check_their_value_when_built(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_value_function_returning_none_is_named(model):
    with pytest.raises(TypeError, match=r"the value function given to add at blocks.1.hook_resid_post returned None"):
        with model.hooks([("blocks.1.hook_resid_post", mechint.add_value(lambda cells, ctx: None))]):
            model(TEXTS)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda d: mechint.AddDirection(d, "strong"),
            TypeError,
            r"alpha must be a number or a tensor of numbers, got 'strong' \(str\)",
        ),
        (lambda d: mechint.AddDirection(d, None), TypeError, "alpha must be a number or a tensor of numbers, got None"),
        (
            lambda d: mechint.AddDirection(["a"] * 64),
            TypeError,
            "the direction must be a number or a tensor of numbers",
        ),
        (
            lambda d: mechint.AddDirection(d, normalize="no"),
            TypeError,
            r"normalize must be True or False, got 'no' \(str\)",
        ),
        (lambda d: mechint.AblateDirection(d, value="x"), TypeError, "value must be a number or a tensor of numbers"),
        (
            lambda d: mechint.EditNeurons(0, [1], value="x"),
            TypeError,
            r"value must be a number or a tensor of numbers, got 'x'",
        ),
    ],
)
def test_interventions_name_bad_values(make, error, message):
    with pytest.raises(error, match=message):
        make(torch.randn(64))


# ---------------------------------------------------------------------------------------------
# Directions
# ---------------------------------------------------------------------------------------------


def test_directions_take_numpy_and_lists_and_name_shapes():
    import numpy as np

    acts, labels = torch.randn(10, 8), [0, 1] * 5
    want = mechint.diff_in_means(acts, labels)
    assert torch.equal(mechint.diff_in_means(acts.numpy(), labels), want)
    assert torch.equal(mechint.diff_in_means(acts.tolist(), labels), want)
    assert torch.isnan(mechint.cosine(torch.zeros(8), torch.ones(8)))  # a zero vector has no direction
    assert float(mechint.cosine([1.0, 0.0], [0.0, 1.0])) == 0.0
    with pytest.raises(ValueError, match=r"shapes \(3, 8\) and \(2, 8\) do not broadcast"):
        mechint.cosine(torch.ones(3, 8), torch.ones(2, 8))
    with pytest.raises(ValueError, match=r"must share one shape \[layer, d\]; got \{'en': \(3, 8\), 'zh': \(3, 9\)\}"):
        mechint.cosine_across({"en": torch.ones(3, 8), "zh": torch.ones(3, 9)})
    with pytest.raises(TypeError, match=r"cosine_across takes \{language: direction \[layer, d\]\}, got list"):
        mechint.cosine_across([torch.ones(3, 8)])
    assert mechint.cosine_across({"en": np.ones((3, 8)), "zh": np.ones((3, 8))})[0].shape == (3, 2, 2)
    with pytest.raises(ValueError, match="auroc takes scores"):
        mechint.auroc(torch.tensor(1.0), [1])
    assert float(mechint.auroc([0.1, 0.9], [0, 1])) == 1.0


def test_per_language_and_transfer_directions_name_their_problems():
    acts, labels = torch.randn(2, 10, 8), [0, 1] * 5
    with pytest.raises(ValueError, match="6 labels for 10 rows"):
        mechint.per_language_directions(acts, labels[:6], ["en"] * 10)
    with pytest.raises(TypeError, match="languages must be one code per row .a list., got the string"):
        mechint.per_language_directions(acts, labels, "enenenenen")
    bad = {"en": torch.full((2, 8), float("nan"))}
    with pytest.raises(ValueError, match="the direction of 'en' has non-finite entries"):
        mechint.transfer_auroc(bad, acts, labels, ["en"] * 10)
    good = {"en": torch.randn(2, 8)}
    assert mechint.transfer_auroc(good, acts.numpy(), labels, ["en"] * 10)[0].shape == (2, 1, 1)


def test_diff_in_means_warns_when_the_classes_have_one_mean():
    with pytest.warns(UserWarning, match="the two classes have the same mean; the direction there is zero"):
        direction = mechint.diff_in_means(torch.ones(10, 8), [0, 1] * 5)
    assert torch.equal(direction, torch.zeros(8))


# ---------------------------------------------------------------------------------------------
# Neurons, data, alignment
# ---------------------------------------------------------------------------------------------


def test_neuron_functions_name_bad_arguments(model):
    from mechint import neurons

    d = torch.randn(64)
    with pytest.raises(TypeError, match=r"k must be an integer >= 1, got '5' \(str\)"):
        neurons.top_neurons(model, d, k="5")
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        neurons.promoted_tokens(model, d, k=0)
    with pytest.raises(ValueError, match="the vector given to promoted_tokens has non-finite entries"):
        neurons.promoted_tokens(model, torch.full((64,), float("nan")))
    with pytest.raises(TypeError, match="value_vectors takes a mechint Model"):
        neurons.value_vectors(model.hf)
    with pytest.raises(ValueError, match=r"token_id 99999 is out of range: the tokenizer has ids 0..258"):
        neurons.readable_token(model.tokenizer, 99999)
    pair = [(0, 1)]
    with pytest.raises(ValueError, match="capacity must be an integer >= 1, got 0"):
        neurons.neuron_activation_stats(model, TEXTS, pair, capacity=0, progress=False)
    with pytest.raises(TypeError, match=r"batch_size must be an integer >= 1, got '2' \(str\)"):
        neurons.neuron_activation_stats(model, TEXTS, pair, batch_size="2", progress=False)
    with pytest.raises(TypeError, match=r"max_new_tokens must be an integer >= 0, got '2' \(str\)"):
        neurons.neuron_activation_stats(model, TEXTS, pair, max_new_tokens="2", progress=False)


def test_data_names_bad_languages_and_rows():
    from mechint.data import load_safety_pairs

    with pytest.raises(TypeError, match="languages must be a code such as 'en' or a list of codes, got 5"):
        load_safety_pairs(5)
    with pytest.raises(TypeError, match="language codes are strings such as 'en', got 3"):
        load_safety_pairs(["en", 3])
    ds = load_safety_pairs(["en"], n_per_class=2)
    for index in (999, -999, [0, 999]):
        with pytest.raises(IndexError, match=r"row -?999 is out of range: the Dataset has 4 rows"):
            ds[index]
    assert ds[-1] == ds[3]


def test_alignment_names_bad_inputs(model):
    with pytest.raises(ValueError, match=r"a holds 40 NaN or infinite value\(s\), in 5 of its 5 rows"):
        mechint.retrieval(torch.full((5, 8), float("nan")), torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"embeddings\['zh'\] holds"):
        mechint.retrieval_matrix({"en": torch.randn(2, 5, 8), "zh": torch.full((2, 5, 8), float("nan"))})
    with pytest.raises(TypeError, match=r"sentences\['en'\] must be a list of texts, got one string 'ab'"):
        mechint.bilingual_retrieval(model, {"en": "ab", "zh": "cd"})
    with pytest.raises(TypeError, match="sentences must map each language to its texts"):
        mechint.bilingual_retrieval(model, [["a"], ["b"]])
    with pytest.raises(ValueError, match=r"needs at least two languages, got \[\]"):
        mechint.bilingual_retrieval(model, {})
    with pytest.raises(ValueError, match="site is a per-layer site key such as 'hook_resid_post'"):
        mechint.sentence_embeddings(model, ["a"], site="blocks.0.hook_resid_post")


# ---------------------------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------------------------


def test_probe_fits_name_bad_arguments():
    x, y = torch.randn(3, 40, 8), [0, 1] * 20
    folds = [0, 1, 2, 3] * 10
    cases = [
        (dict(C="1"), TypeError, r"C must be a number or a tensor of numbers, got '1' \(str\)"),
        (dict(tol=-1), ValueError, "tol must be a positive finite number, got -1.0"),
        (dict(tol="x"), TypeError, "tol must be a number"),
        (dict(max_iter=2.5), TypeError, r"max_iter must be an integer >= 1 or None, got 2.5 \(float\)"),
        (dict(sample_weight=torch.zeros(40)), mechint.probes.ProbeDataError, "sample weights are all zero"),
        (dict(device="gpu"), ValueError, "device must be a device such as 'cpu'"),
        (
            dict(axes=("layer",), coords={"layer": [0]}),
            ValueError,
            r"coords\['layer'\] has 1 labels for a batch axis of 3",
        ),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            mechint.fit_probes(x, y, **kwargs)
    langs = ["en", "zh"] * 20
    with pytest.raises(ValueError, match="layers has 1 labels for activations of 3 layers"):
        mechint.transfer_matrix(x, y, langs, folds, layers=[9], test_folds=[1])
    with pytest.raises(TypeError, match="folds must be a number or a tensor of numbers"):
        mechint.transfer_matrix(x, y, langs, ["a", "b"] * 20)
    with pytest.raises(mechint.probes.ProbeDataError, match="leaves no training rows"):
        mechint.cross_validate(x, y, torch.zeros(40))
    with pytest.raises(TypeError, match="folds must be one integer fold id per row"):
        mechint.early_prediction(x, y, langs, None, [0.3, 0.6, 1.0])
    with pytest.raises(ValueError, match=r"fractions must be in \(0, 1\]"):
        mechint.early_prediction(x, y, langs, folds, [0.3, 1.5, 1.0])
    with pytest.raises(TypeError, match="fractions must be a number or a tensor of numbers"):
        mechint.early_prediction(x, y, langs, folds, ["a", "b", "c"])


def test_a_read_whose_positions_miss_the_forward_warns(model):
    store = {}
    with pytest.warns(
        UserWarning, match=r"positions \[99\] are outside the .* positions .* the hook did nothing there"
    ):
        with model.hooks([("blocks.0.hook_resid_post", mechint.record(store, positions=[99]))]):
            model(TEXTS)
    assert store == {}
