"""Probes: the inputs they are given and what they hand back (standardisation of small features,
batch axes when scoring, indexing, convergence warnings, label and shape checks, scoring precision)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import mechint
from mechint import data
from mechint.probes import (
    Probe,
    ProbeConvergenceWarning,
    ProbeDataError,
    binary_metrics,
    cross_validate,
    fit_probes,
    fold_ids,
    holdout_folds,
    split_ids,
    transfer_matrix,
)
from mechint.probes import fit as probes_module

sklearn = pytest.importorskip("sklearn", reason="scikit-learn (the dev extra) is the reference for probes")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def small_problem(n=60, d=5, seed=0):
    """Labels that the first feature predicts (Bayes accuracy ~0.85), in float64 numpy."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    return x, y


def layered(L=3, n=40, d=6, seed=0):
    """``[L, n, d]`` activations (a planted direction) and ``[n]`` labels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(L, n, d, generator=g) + 1.5 * (2 * y[:, None] - 1) * torch.randn(d, generator=g)
    return x, y


# ------------------------------------------------------------------------------------------ standardisation


@pytest.mark.parametrize("solver", ["lbfgs", "primal", "dual"])
def test_features_of_small_magnitude_are_standardised(device, solver):
    """The constant-feature test of StandardScaler is relative: features whose values are all
    ~1e-7 are standardised like any other (an absolute cutoff left them unscaled, and the L2
    penalty then zeroed their weights: an intercept-only probe at chance accuracy)."""
    x, y = small_problem()
    xs = (x * 1e-7).astype(np.float32)
    probe = fit_probes(torch.tensor(xs).to(device), torch.tensor(y), solver=solver)
    scaler = StandardScaler().fit(xs.astype(np.float64))
    sk = LogisticRegression().fit(scaler.transform(xs.astype(np.float64)), y)
    torch.testing.assert_close(probe.scale.cpu().double(), torch.tensor(scaler.scale_), rtol=1e-4, atol=0)
    coef = probe.coef.cpu().double()
    assert float(coef @ torch.tensor(sk.coef_[0]) / (coef.norm() * np.linalg.norm(sk.coef_[0]))) > 0.999
    ours = (probe.predict(torch.tensor(xs).to(device)).cpu().numpy() == y).mean()
    assert abs(ours - sk.score(scaler.transform(xs.astype(np.float64)), y)) < 1e-9 and ours > 0.8


def test_constant_features_keep_scale_one_under_both_rules():
    """Constant features (zero, small, large mean; a large mean with spread below its rounding)
    keep scale 1, and the compiled L-BFGS standardises exactly as the batched solvers do."""
    x, y = small_problem(n=80, d=3, seed=1)
    g = torch.Generator().manual_seed(0)
    cols = [
        torch.tensor(x, dtype=torch.float32) * 1e-7,  # small: standardised
        torch.zeros(80, 1),  # constant 0
        torch.full((80, 1), 3e-9),  # constant, small
        torch.full((80, 1), -250.0),  # constant, large
        1000 + 1e-6 * torch.randn(80, 1, generator=g),  # spread below float32 rounding at 1000
    ]
    acts = torch.cat(cols, -1)
    compiled = fit_probes(acts, torch.tensor(y), solver="lbfgs")
    batched = fit_probes(acts, torch.tensor(y), solver="primal")
    assert torch.equal(compiled.scale[3:], torch.ones(4)) and torch.equal(batched.scale[3:], torch.ones(4))
    assert bool((compiled.scale[:3] < 1e-6).all())
    torch.testing.assert_close(compiled.scale, batched.scale, rtol=1e-6, atol=0)


# ------------------------------------------------------------------------------------------ scoring


def test_scoring_checks_the_batch_axes(device):
    """A ``[L, A]`` batch of probes scores ``[n, d]`` (every probe, the same rows), ``[L, A, n, d]``
    or ``[L, 1, n, d]`` (axes matched one for one, size 1 broadcasting); ``[L, n, d]`` is refused
    (matmul's right-aligned broadcasting would pair probe (l, a) with the rows of layer a)."""
    x, y = layered(L=3, n=40, d=6)
    idx = torch.stack([torch.arange(0, 20), torch.arange(20, 40), torch.arange(10, 30)])  # [A=3, 20]
    probe = fit_probes(x.to(device), y[idx], rows=idx.to(device))  # [L=3, A=3]
    assert probe.batch_shape == (3, 3)
    xd = x.to(device)
    wrong = r"activations of shape \(3, 40, 6\) do not fit probes of batch shape \(3, 3\)"
    with pytest.raises(ValueError, match=wrong):
        probe.decision_function(xd)
    with pytest.raises(ValueError, match="batch shape"):
        probe.evaluate(xd, y)
    with pytest.raises(ValueError, match="batch shape"):
        probe[0, 0].decision_function(xd)  # one probe: [n, d] only
    per_layer = probe.decision_function(xd.unsqueeze(1))  # [L, 1, n, d] -> [L, A, n]
    assert per_layer.shape == (3, 3, 40)
    for layer in range(3):
        for a in range(3):
            one = probe[layer, a]
            by_hand = ((xd[layer] - one.mean) / one.scale) @ one.coef + one.intercept
            torch.testing.assert_close(per_layer[layer, a], by_hand, rtol=1e-4, atol=1e-4)
    shared = probe.decision_function(xd[1])  # [n, d]: every probe on layer 1's rows -> [L, A, n]
    assert shared.shape == (3, 3, 40)
    torch.testing.assert_close(shared[1], per_layer[1])
    full = probe.decision_function(xd.unsqueeze(1).expand(3, 3, 40, 6))
    torch.testing.assert_close(full, per_layer)
    torch.testing.assert_close(probe[:1].decision_function(xd[:1].unsqueeze(1)), per_layer[:1])
    assert probe.evaluate(xd.unsqueeze(1), y).shape == (3, 3)


def test_scores_are_exact_for_features_with_a_large_mean(device):
    """Logits are computed from centred rows: a feature of mean 1000 and spread 0.01 scores to float32
    precision (folding the mean into the bias cancelled terms of ~1e5: errors of ~0.04)."""
    g = torch.Generator().manual_seed(3)
    n, d = 400, 64
    y = torch.arange(n) % 2
    x = 1000 + 0.01 * (torch.randn(n, d, generator=g) + 0.5 * (2 * y[:, None] - 1) * torch.randn(d, generator=g))
    probe = fit_probes(x.to(device), y)
    ref = ((x.double() - probe.mean.cpu().double()) / probe.scale.cpu().double()) @ probe.coef.cpu().double()
    ref = ref + probe.intercept.cpu().double()
    got = probe.decision_function(x.to(device)).cpu().double()
    assert float(ref.abs().max()) > 3  # logits of a size where a 0.04 error would show
    assert float((got - ref).abs().max()) < 2e-3
    # a float64 fit keeps float64 probes, and scores float64 rows in float64
    p64 = fit_probes(x.double().to(device), y, dtype=torch.float64, tol=1e-8)
    assert p64.coef.dtype == p64.intercept.dtype == p64.mean.dtype == p64.scale.dtype == torch.float64
    s64 = p64.decision_function(x.double().to(device))
    assert s64.dtype == torch.float64
    ref64 = ((x.double().to(device) - p64.mean) / p64.scale) @ p64.coef + p64.intercept
    torch.testing.assert_close(s64, ref64, rtol=1e-9, atol=1e-9)


def test_scoring_keeps_gradients_and_fitting_drops_them():
    """The fit is not differentiable (no graph kept, whatever the solver); the logits are, in the
    activations (as for steering or attacks on a probe)."""
    x, y = layered(L=1, n=60, d=8)
    acts = x[0].clone().requires_grad_()
    for solver in ("primal", "dual", "lbfgs"):
        probe = fit_probes(acts, y, solver=solver, C=torch.tensor(1.0, requires_grad=True))
        assert not any(getattr(probe, k).requires_grad for k in Probe._TENSORS), solver
    probe.decision_function(acts).sum().backward()
    torch.testing.assert_close(acts.grad, probe.weight.expand(60, 8))


# ------------------------------------------------------------------------------------------ indexing


def test_indexing_with_numpy_and_torch_integers_masks_and_ellipsis():
    x, y = layered(L=3, n=40, d=5)
    acts = torch.stack([x, x + 1], 1)  # [layer 3, fold 2, n, d]
    probe = fit_probes(acts, y, axes=("layer", "fold"), coords={"layer": [4, 5, 6], "fold": ["a", "b"]})
    auroc = torch.tensor([0.5, 0.9, 0.7])
    for i in (1, np.int64(1), torch.tensor(1), auroc.argmax(), np.array(1)):
        one = probe[i]
        assert one.batch_shape == (2,) and one.axes == ("fold",) and one.coords == {"fold": ["a", "b"]}, type(i)
        assert torch.equal(one.coef, probe.coef[1])
    both = probe[np.int64(2), torch.tensor(0)]
    assert both.batch_shape == () and both.axes == () and both.coords == {}
    mask = torch.tensor([True, False, True])
    for m in (mask, mask.numpy(), [True, False, True]):
        sub = probe[m]
        assert sub.batch_shape == (2, 2) and sub.axes == ("layer", "fold") and sub.coords["layer"] == [4, 6]
        assert torch.equal(sub.coef, probe.coef[[0, 2]])
    last = probe[..., 1]
    assert last.batch_shape == (3,) and last.axes == ("layer",) and last.coords == {"layer": [4, 5, 6]}
    assert torch.equal(last.coef, probe.coef[:, 1])
    assert probe[...].batch_shape == (3, 2) and probe[1, ...].axes == ("fold",)
    # index arrays on two axes select the sub-batch (every combination), axes and coords agree
    grid = probe[[0, 2], np.array([1])]
    assert grid.batch_shape == (2, 1) and grid.coords == {"layer": [4, 6], "fold": ["b"]}
    assert torch.equal(grid.coef[1, 0], probe.coef[2, 1])
    assert probe[torch.tensor([-1])].coords["layer"] == [6]
    with pytest.raises(IndexError, match="too many indices"):
        probe[0, 0, 0]
    with pytest.raises(IndexError):
        probe[None]
    with pytest.raises(IndexError, match="boolean masks"):
        probe[torch.tensor([True, False])]  # a mask of the wrong length
    with pytest.raises(TypeError):
        probe[1.5]


# ------------------------------------------------------------------------------------------ convergence


def test_unconverged_fits_warn_once_and_converged_fits_do_not(device):
    x, y = layered(L=4, n=80, d=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a converged fit warns about nothing
        for solver in ("lbfgs", "primal", "dual"):
            assert bool(fit_probes(x.to(device), y, solver=solver).converged.all())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe = fit_probes(x.to(device), y, tol=1e-12, max_iter=2, axes=("layer",))
    assert [w.category for w in caught] == [ProbeConvergenceWarning]  # once for the whole call
    assert "4 of 4 probe problems did not converge" in str(caught[0].message)
    assert "layer 0; layer 1; layer 2 ..." in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller
    assert not bool(probe.converged.any())


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_newton_keeps_the_last_finite_iterate(device, solver):
    """Activations so large that the float32 Hessian overflows: the Newton step is not finite, so the
    problem stops where it was (finite weights, not converged, a warning) instead of taking a NaN step."""
    x, y = layered(L=1, n=80, d=6)
    with pytest.warns(ProbeConvergenceWarning, match="1 of 1 probe problems did not converge"):
        probe = fit_probes(x[0].to(device) * 1e19, y, solver=solver, standardize=False)
    assert bool(torch.isfinite(probe.coef).all()) and bool(torch.isfinite(probe.intercept).all())
    assert not bool(probe.converged)


def test_non_finite_weights_are_an_error(monkeypatch):
    x, y = layered(L=2, n=60, d=6)
    solve = probes_module.newton_primal

    def nan_solver(*args, **kwargs):
        coef, b, n_iter, conv = solve(*args, **kwargs)
        coef[1, 2] = math.nan
        return coef, b, n_iter, conv

    monkeypatch.setattr(probes_module, "newton_primal", nan_solver)
    with pytest.raises(ProbeDataError, match=r"non-finite weights for 1 of 2 problems \(layer 1\)"):
        fit_probes(x, y, solver="primal", axes=("layer",))


@pytest.mark.bad_input
def test_class_and_sample_weights_are_checked():
    x, y = layered(L=1, n=60, d=6)
    for cw in ({0: -1.0}, {0: math.inf}, {1: 0.0}, {0: math.nan}, {1: "heavy"}):
        for solver in ("lbfgs", "primal"):
            with pytest.raises(ValueError, match="class_weight of label . must be a finite number > 0"):
                fit_probes(x[0], y, class_weight=cw, solver=solver)
    assert bool(fit_probes(x[0], y, class_weight={0: 2, 1: np.float32(0.5)}).converged)
    with pytest.raises(ProbeDataError, match="non-negative finite"):
        fit_probes(x[0], y, sample_weight=torch.full((60,), math.inf))
    with pytest.raises(ProbeDataError, match=r"sample weights of shape \(3, 60\) do not match"):
        fit_probes(x, y, sample_weight=torch.ones(3, 60))


def test_shapes_of_C_and_init_are_checked():
    x, y = layered(L=3, n=60, d=6)
    with pytest.raises(ValueError, match=r"C of shape \(2,\) does not match the batch shape \(3,\)"):
        fit_probes(x, y, C=torch.ones(2))
    assert fit_probes(x, y, C=torch.tensor([0.5, 1.0, 2.0])).C.tolist() == [0.5, 1.0, 2.0]
    start = fit_probes(x[:2], y)
    with pytest.raises(ValueError, match=r"init probe of batch shape \(2,\) does not broadcast to the batch shape"):
        fit_probes(x, y, init=start)


# ------------------------------------------------------------------------------------------ labels, folds, files


def test_metrics_check_labels_and_shapes(device):
    x, y = layered(L=1, n=60, d=6)
    probe = fit_probes(x[0].to(device), y)
    scores = probe.decision_function(x[0].to(device))
    with pytest.raises(ProbeDataError, match="must be 0 .harmless. or 1"):
        binary_metrics(scores, 2 * y - 1)  # -1/1 labels: every row would count as positive
    with pytest.raises(ProbeDataError, match="must be 0 .harmless. or 1"):
        probe.evaluate(x[0].to(device), 2 * y - 1)
    padded = torch.where(torch.arange(60) < 50, y, -1)  # padding outside the mask is not a label
    m = binary_metrics(scores, padded, torch.arange(60) < 50)
    assert int(m.n) == 50
    with pytest.raises(ValueError, match=r"labels of shape \(59,\) do not match scores of shape \(60,\)"):
        binary_metrics(scores, y[:59])
    with pytest.raises(ValueError, match=r"mask of shape \(3,\) do not match"):
        binary_metrics(scores, y, torch.ones(3, dtype=torch.bool))
    assert float(binary_metrics(scores, y.bool()).accuracy) == float(binary_metrics(scores, y).accuracy)


def _mixed_dataset(n_items=20):
    rows = []
    for i in range(n_items):
        for lang in ("en", "zh"):
            # item 0 carries both labels: stratified splits cannot keep it whole
            label = (i % 2) if not (i == 0 and lang == "zh") else 1
            rows.append(data.Example(text=f"{lang} {i}", label=label, language=lang, item_id=f"item-{i}", source="t"))
    return data.Dataset(rows)


def test_fold_ids_and_holdout_folds_take_stratify():
    ds = _mixed_dataset()
    with pytest.raises(ValueError, match="stratify=False"):
        fold_ids(ds, k=4)
    folds = fold_ids(ds, k=4, stratify=False)
    assert sorted(set(folds.tolist())) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="stratify=False"):
        holdout_folds(ds)
    test = holdout_folds(ds, stratify=False)
    by_item = {}
    for item, t in zip(ds.item_ids, test.tolist()):
        assert by_item.setdefault(item, t) == t


def test_item_ids_of_the_wrong_length_are_refused():
    x, y = layered(L=1, n=40, d=4)
    items = [f"item-{i // 2}" for i in range(40)]
    folds = torch.tensor([(i // 2) % 4 for i in range(40)])
    cross_validate(x, y, folds, item_ids=items)  # consistent
    with pytest.raises(ProbeDataError, match="39 item ids for 40 rows"):
        cross_validate(x, y, folds, item_ids=items[:39])
    langs = ["en" if (i // 8) % 2 == 0 else "zh" for i in range(40)]  # both labels, every fold
    with pytest.raises(ProbeDataError, match="41 item ids for 40 rows"):
        transfer_matrix(x, y, langs, folds, item_ids=items + ["extra"])


def test_probes_with_numpy_or_tensor_coords_save(tmp_path):
    x, y = layered(L=3, n=40, d=4)
    langs = ["en" if (i // 8) % 2 == 0 else "zh" for i in range(40)]  # both labels, every fold
    folds = torch.tensor([(i // 2) % 4 for i in range(40)])
    res = transfer_matrix(x, y, langs, folds, layers=np.arange(3), test_folds=[0])
    probe = res.probes[0]
    assert probe.coords["layer"] == [0, 1, 2] and all(type(v) is int for v in probe.coords["layer"])
    assert res.layers == [0, 1, 2] and all(type(v) is int for v in res.layers)
    back = Probe.load(probe.save(tmp_path / "transfer"))
    assert back.coords == {"layer": [0, 1, 2], "train_language": ["en", "zh"]}
    other = fit_probes(x, y, coords={"layer": torch.tensor([4, 5, 6])}, axes=("layer",))
    assert other.coords == {"layer": [4, 5, 6]}
    assert Probe.load(other[np.int64(1) :].save(tmp_path / "other")).coords == {"layer": [5, 6]}


def test_probes_with_very_different_means_score_shared_rows_exactly():
    """Probes of layers with different means (0 and 1000, spread 0.01) scoring the same rows: the
    shared-rows product must not trade their centring for a large cancelling correction."""
    g = torch.Generator().manual_seed(0)
    n, d = 200, 8
    y = (torch.arange(n) % 2).long()
    base = torch.randn(n, d, generator=g, dtype=torch.float64) * 0.01
    base[:, 0] += 0.01 * y
    acts = torch.stack([base, base + 1000.0]).float()  # [2, n, d]
    probe = fit_probes(acts, y)
    rows = acts[1]  # every probe scores layer 1's rows (mean 1000)
    got = probe.decision_function(rows).double()
    ref = ((rows.double() - probe.mean.double()[:, None]) @ probe.weight.double()[..., None]).squeeze(
        -1
    ) + probe.intercept.double()[:, None]
    assert ref[1].abs().max() < 100  # layer 1's own probe: logits of ordinary size ...
    assert (got[1] - ref[1]).abs().max() < 1e-3  # ... and exact (a shared centre cost 0.04 here)
    assert ((got - ref).abs() / (ref.abs() + 1)).max() < 1e-5  # layer 0's probe: huge logits, float32-exact


def test_split_ids_is_the_deprecated_name_of_holdout_folds():
    ds = _mixed_dataset()
    with pytest.warns(DeprecationWarning, match="split_ids is now holdout_folds"):
        old = split_ids(ds, test_fraction=0.3, stratify=False)
    assert torch.equal(old, holdout_folds(ds, test_fraction=0.3, stratify=False))


def test_transfer_result_to_dataframe_is_labelled():
    x, y = torch.randn(2, 40, 6), torch.tensor([0, 0, 1, 1] * 10)
    langs, folds = ["en", "zh"] * 20, torch.tensor([0] * 4 + [1] * 4).repeat(5)
    res = mechint.transfer_matrix(x, y, langs, folds, test_folds=[1])
    frame = res.to_dataframe()
    assert list(frame.columns[:3]) == ["layer", "train_language", "test_language"]
    assert len(frame) == 2 * 2 * 2
    row = frame[(frame.layer == 1) & (frame.train_language == "zh") & (frame.test_language == "en")].iloc[0]
    i, j = res.train_languages.index("zh"), res.test_languages.index("en")
    assert row.accuracy == pytest.approx(float(res.metrics.accuracy[1, i, j]))
    with pytest.raises(ValueError, match="axes label"):
        res.metrics.to_dataframe({"layer": [0]})
