"""Probes: batched logistic regression against scikit-learn, metrics, splits by item, files, errors."""

from __future__ import annotations

import math

import pytest
import torch

from mechint import data
from mechint.probes import (
    Probe,
    ProbeConvergenceWarning,
    ProbeDataError,
    binary_metrics,
    cross_validate,
    early_prediction,
    fit_probes,
    fold_ids,
    holdout_folds,
    select_layer,
    transfer_matrix,
)

sklearn = pytest.importorskip("sklearn", reason="scikit-learn (the dev extra) is the reference for probes")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def planted(n=300, d=24, *, seed=0, margin=2.0, noise=1.0, offset=5.0, flip=0.0, p1=0.5):
    """Rows with a planted direction; ``flip`` of the labels flipped (label noise), large offset and
    unequal feature scales (as residual streams have), so standardisation matters."""
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(d, generator=g)
    direction /= direction.norm()
    y = (torch.rand(n, generator=g) < p1).long()
    x = noise * torch.randn(n, d, generator=g) + margin * (2 * y[:, None] - 1) * direction
    if flip:
        y = torch.where(torch.rand(n, generator=g) < flip, 1 - y, y)
    scales = torch.logspace(-1, 1, d)
    return offset + x * scales, y, direction


def sk_fit(x, y, *, C=1.0, class_weight=None, tol=1e-4):
    scaler = StandardScaler().fit(x.double().numpy())
    model = LogisticRegression(C=C, class_weight=class_weight, tol=tol, max_iter=10_000)
    model.fit(scaler.transform(x.double().numpy()), y.numpy())
    return scaler, model


def cos(a, b):
    a, b = torch.as_tensor(a).double().reshape(-1), torch.as_tensor(b).double().reshape(-1)
    return float(a @ b / (a.norm() * b.norm()))


# ------------------------------------------------------------------------------------------ fitting


def test_separable_data_reaches_known_accuracy(device):
    xs, ys = [], []
    for seed in range(3):  # three problems in one batch, e.g. three layers
        x, y, _ = planted(n=400, d=16, seed=seed, margin=4.0, noise=0.5)
        xs.append(x)
        ys.append(y)
    x, y = torch.stack(xs), torch.stack(ys)
    probe = fit_probes(x[:, :300].to(device), y[:, :300], axes=("layer",))
    assert probe.batch_shape == (3,) and probe.device.type == device.type and bool(probe.converged.all())
    m = probe.evaluate(x[:, 300:].to(device), y[:, 300:].to(device))
    # 4 sigma of margin: the Bayes accuracy is Phi(8) ~ 1
    assert torch.all(m.accuracy == 1.0) and torch.all(m.auroc == 1.0)
    assert m.positive_class == 1 and m.positive_name == "harmful"


@pytest.mark.parametrize(
    "n, d, C, class_weight, p1",
    [
        (400, 24, 1.0, None, 0.5),  # more rows than features: primal Newton
        (60, 80, 1.0, None, 0.5),  # fewer rows than features: dual Newton
        (300, 24, 0.05, "balanced", 0.2),  # strong L2, imbalanced classes, balanced weights
        (50, 80, 10.0, {0: 1.0, 1: 3.0}, 0.4),  # weak L2, explicit class weights, dual
    ],
)
@pytest.mark.parametrize("solver", ["primal", "dual", "lbfgs"])
def test_matches_scikit_learn(device, n, d, C, class_weight, p1, solver):
    x, y, _ = planted(n=n + 200, d=d, seed=n + d, margin=1.0, flip=0.1, p1=p1)
    xtr, ytr, xte, yte = x[:n], y[:n], x[n:], y[n:]
    probe = fit_probes(xtr.to(device), ytr, C=C, class_weight=class_weight, solver=solver)
    assert bool(probe.converged.all())
    scaler, sk = sk_fit(xtr, ytr, C=C, class_weight=class_weight)
    assert cos(probe.coef.cpu(), sk.coef_[0]) > 0.99
    ours = (probe.predict(xte.to(device)).cpu() == yte).double().mean().item()
    theirs = accuracy_score(yte.numpy(), sk.predict(scaler.transform(xte.double().numpy())))
    assert abs(ours - theirs) <= 0.01 + 1e-12
    # the standardisation is StandardScaler's
    torch.testing.assert_close(probe.mean.cpu().double(), torch.tensor(scaler.mean_), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(probe.scale.cpu().double(), torch.tensor(scaler.scale_), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n, d", [(400, 24), (60, 80)])
@pytest.mark.parametrize("solver", ["auto", "lbfgs", "primal", "dual"])
def test_same_objective_as_scikit_learn_to_high_precision(n, d, solver):
    """Tightly converged, both minimise the same function: penalty on the weights, not the intercept."""
    x, y, _ = planted(n=n, d=d, seed=3, margin=1.0, flip=0.1)
    probe = fit_probes(x.double(), y, C=0.5, tol=1e-10, dtype=torch.float64, solver=solver)
    assert bool(probe.converged.all())
    _, sk = sk_fit(x, y, C=0.5, tol=1e-12)
    torch.testing.assert_close(probe.coef.double(), torch.tensor(sk.coef_[0]), rtol=1e-4, atol=1e-5)
    assert abs(probe.intercept.item() - sk.intercept_[0]) < 1e-4


# tol=1e-8 is below what float32 Newton reaches on some of these problems: they stop at the precision
# limit (converged False, with a ProbeConvergenceWarning), close enough to L-BFGS's solution
@pytest.mark.filterwarnings("ignore::mechint.probes.ProbeConvergenceWarning")
def test_solvers_agree(device):
    """Newton (primal, dual) and L-BFGS reach the same probes, on a batch of problems that converge
    after different numbers of iterations (the batch is compacted as problems finish)."""
    xs, ys = [], []
    for seed in range(9):
        x, y, _ = planted(n=100, d=40, seed=5 + seed, margin=0.3 + seed, flip=0.1 * (seed % 3))
        xs.append(x)
        ys.append(y)
    x, y = torch.stack(xs).to(device), torch.stack(ys)
    probes = {solver: fit_probes(x, y, solver=solver, tol=1e-8) for solver in ("primal", "dual", "lbfgs")}
    lb = probes["lbfgs"]
    assert bool(lb.converged.all()) and len(set(lb.n_iter.tolist())) > 3
    for name in ("primal", "dual"):
        for p in range(9):
            assert cos(probes[name].coef[p].cpu(), lb.coef[p].cpu()) > 0.9999, (name, p)
        torch.testing.assert_close(probes[name].intercept.cpu(), lb.intercept.cpu(), rtol=1e-3, atol=1e-3)


def test_batched_line_search_gives_each_problem_its_own_step(device):
    """The exact line search of the batched solvers: a problem's step does not depend on the other
    problems of the batch (one that settles early is not moved while the others still iterate), and
    it is the minimiser of the objective along the direction."""
    from mechint.probes._solvers import _loss, _step_length

    g = torch.Generator().manual_seed(3)
    P, n = 6, 80
    y = (torch.rand(P, n, generator=g) < 0.5).double()
    s = 0.5 + torch.rand(P, n, generator=g, dtype=torch.float64)
    f = torch.randn(P, n, generator=g, dtype=torch.float64)
    # descent directions, each divided by c: its best step is c times that of the undivided one
    c = torch.tensor([0.12, 0.3, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    df = (-(s * (torch.sigmoid(f) - y)) + 0.3 * torch.randn(P, n, generator=g, dtype=torch.float64)) / c.unsqueeze(-1)
    lam = torch.full((P,), 0.1, dtype=torch.float64)
    pen0, pen_lin, pen_quad = 0.5 * lam, 0.05 * lam / c, 0.1 * lam / c**2
    slope = (s * (torch.sigmoid(f) - y) * df).sum(-1) + pen_lin
    assert bool((slope < 0).all())
    J0 = _loss(f, y, s) + pen0
    args = [t.to(device) for t in (f, df, y, s, pen0, pen_lin, pen_quad, slope, J0)]
    eta, J = _step_length(*args)
    alone = torch.cat([_step_length(*[a[p : p + 1] for a in args])[0] for p in range(P)])
    torch.testing.assert_close(eta, alone, rtol=1e-12, atol=0)
    # the minimiser: the slope along the direction vanishes there (relative to the slope at 0)
    p_at = torch.sigmoid(args[0] + eta.unsqueeze(-1) * args[1])
    d1 = ((p_at - args[2]) * args[3] * args[1]).sum(-1) + args[5] + 2 * eta * args[6]
    assert bool((d1.abs() <= 1e-4 * slope.to(device).abs()).all()), (eta, d1)
    assert bool((J < J0.to(device)).all())
    assert float(eta.min()) < 1.2 and float(eta.max()) > 8  # settles after a few steps / needs several doublings


@pytest.mark.parametrize("contiguous", [True, False])
def test_gathered_problems_are_the_indexed_rows(device, contiguous, monkeypatch):
    """fit_probes' gather of each problem's rows, direct and part by part (the path from host memory
    to a GPU, page-locked there), with parts of one problem: equal to plain indexing."""
    import mechint.probes.fit as probes

    src = torch.randn(4, 30, 8) if contiguous else torch.randn(4, 8, 30).transpose(1, 2)
    row_sets = torch.stack([torch.randperm(30)[:10] for _ in range(2)])
    src_of, set_of = torch.arange(8) // 2, torch.arange(8) % 2
    rows = row_sets[set_of]  # [8 problems, 10]
    monkeypatch.setattr(probes, "_GATHER_PART_BYTES", 1)
    for sl in (slice(0, 8), slice(3, 6)):
        want = src[src_of[sl].unsqueeze(-1), rows[sl]]
        whole = src[sl.start // 2 : (sl.stop + 1) // 2]
        for staged in (False, True):
            got = probes._gather_problems(src, sl, src_of, rows, device, staged=staged)
            assert got.device.type == device.type and torch.equal(got.cpu(), want)
        for staged in (False, True):  # without row sets: problem p is src[p], all rows
            got = probes._gather_problems(
                src, slice(sl.start // 2, (sl.stop + 1) // 2), torch.arange(4), None, device, staged=staged
            )
            assert torch.equal(got.cpu(), whole)


def test_warm_start_reaches_the_same_solution(device):
    x, y, _ = planted(n=200, d=20, seed=7, margin=1.0, flip=0.05)
    other, yo, _ = planted(n=200, d=20, seed=8, margin=1.0, flip=0.05)
    start = fit_probes(other.to(device), yo)
    cold = fit_probes(x.to(device), y, tol=1e-7)
    warm = fit_probes(x.to(device), y, tol=1e-7, init=start)
    assert cos(cold.coef.cpu(), warm.coef.cpu()) > 0.9999
    # from its own solution, a problem takes (almost) no step
    again = fit_probes(x.to(device), y, init=cold)
    assert int(again.n_iter) <= 1


def test_per_problem_weights_select_rows(device):
    """Rows with sample weight 0 are out of the fit and of the standardisation (ragged problems)."""
    x, y, _ = planted(n=300, d=12, seed=9, margin=1.0, flip=0.1)
    keep = torch.zeros(2, 300)
    keep[0, :200] = 1
    keep[1, 100:] = 1
    x_bad = x.clone()
    x_bad[250:] = float("nan")  # only used by problem 1... so drop them there too
    keep[1, 250:] = 0
    both = fit_probes(x_bad.expand(2, 300, 12).to(device), y, sample_weight=keep)
    one = fit_probes(x[:200].to(device), y[:200])
    two = fit_probes(x[100:250].to(device), y[100:250])
    torch.testing.assert_close(both.coef[0].cpu(), one.coef.cpu(), rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(both.coef[1].cpu(), two.coef.cpu(), rtol=1e-3, atol=1e-4)


@pytest.mark.filterwarnings("ignore::mechint.probes.ProbeConvergenceWarning")  # float32 Newton at tol=1e-8
def test_rows_fit_the_gathered_problems(device):
    """``rows=R`` fits ``acts[..., R, :]`` without the gather: [layer, row set] problems, labels and
    weights in the gathered layout, on every solver (the CPU's compiled L-BFGS and the chunked
    batched solvers)."""
    x, y, _ = planted(n=120, d=10, seed=11, margin=1.0, flip=0.1)
    x3 = torch.stack([x, 2 * x + 1, x.flip(-1)])  # [3, 120, 10]
    g = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(120, generator=g)[:70] for _ in range(2)])  # [2, 70]
    w = torch.ones(2, 70)
    w[1, 60:] = 0  # padding of a shorter row set
    for solver in ("auto", "lbfgs", "primal", "dual"):
        a = fit_probes(
            x3.to(device), y[idx], rows=idx.to(device), sample_weight=w, solver=solver, tol=1e-8, max_batch_bytes=1
        )  # one problem per chunk: the gather happens chunk by chunk
        b = fit_probes(x3[:, idx].to(device), y[idx], sample_weight=w, solver=solver, tol=1e-8)
        assert a.batch_shape == (3, 2), solver
        for name in ("coef", "intercept", "mean", "scale"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6, msg=f"{solver} {name}")
        # activations in host memory, fitted on the device (on a GPU: gathered part by part into
        # page-locked memory and copied), give the probes fitted from a copy already there
        c = fit_probes(x3, y[idx], rows=idx, sample_weight=w, solver=solver, tol=1e-8, device=device, max_batch_bytes=1)
        for name in ("coef", "intercept", "mean", "scale"):
            torch.testing.assert_close(getattr(c, name), getattr(a, name), rtol=1e-6, atol=1e-7, msg=f"{solver} {name}")


def test_compiled_cpu_lbfgs_matches_the_batched_solver():
    """On a CPU, L-BFGS runs compiled one problem at a time (mechint.probes._lbfgs_cpu); it reaches the
    probes of the batched torch L-BFGS that other devices run, and the threads that share the
    problems out do not change any result."""
    from mechint.probes import _lbfgs_cpu
    from mechint.probes.fit import _fit_chunk

    xs, ys = [], []
    for seed in range(9):
        x, y, _ = planted(n=100, d=40, seed=5 + seed, margin=0.3 + seed, flip=0.1 * (seed % 3))
        xs.append(x)
        ys.append(y)
    x, y = torch.stack(xs), torch.stack(ys)
    compiled = fit_probes(x, y, tol=1e-8)
    ones = torch.ones(9, 100, dtype=torch.float64)
    coef, b, mean, scale, n_iter, conv = _fit_chunk(
        x,
        y,
        ones,
        ones.bool(),
        torch.ones(9, dtype=torch.float64),
        None,
        None,
        standardize=True,
        tol=1e-8,
        max_iter=1000,
        solver="lbfgs",
        device=torch.device("cpu"),
        dtype=torch.float32,
    )
    assert bool(compiled.converged.all()) and bool(conv.all())
    for p in range(9):
        assert cos(compiled.coef[p], coef[p]) > 0.9999, p
    torch.testing.assert_close(compiled.intercept.double(), b, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(compiled.mean, mean, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(compiled.scale, scale, rtol=1e-5, atol=1e-5)
    # the same method: iteration counts close in total (the step searches stop at different tolerances)
    assert abs(int(compiled.n_iter.sum()) - int(n_iter.sum())) <= 0.25 * int(n_iter.sum())
    args = (
        x.numpy(),
        torch.arange(9).numpy(),
        torch.arange(100).reshape(1, 100).numpy(),
        torch.zeros(9, dtype=torch.long).numpy(),
        y.double().numpy(),
        ones.numpy(),
        torch.ones(9).double().numpy(),
        None,
    )
    one = _lbfgs_cpu.fit_many(*args, tol=1e-6, max_iter=1000, standardize=True, threads=1)
    three = _lbfgs_cpu.fit_many(*args, tol=1e-6, max_iter=1000, standardize=True, threads=3)
    for u, v in zip(one, three):
        assert (u == v).all()
    with pytest.warns(ProbeConvergenceWarning, match="9 of 9 probe problems did not converge"):
        capped = fit_probes(x, y, tol=1e-12, max_iter=3)
    assert not bool(capped.converged.any()) and bool((capped.n_iter == 3).all())


def test_random_labels_stay_near_chance_on_held_out_items():
    ds = _parallel_dataset(n_items=240, languages=("en", "zh"))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, len(ds), 32, generator=g)  # three "layers" of noise
    labels = torch.tensor(ds.labels)
    folds = fold_ids(ds, k=5)
    res = cross_validate(x, labels, folds, item_ids=ds.item_ids)
    assert res.metrics.shape == (3,)
    assert torch.all((res.metrics.accuracy - 0.5).abs() < 0.1), res.metrics.accuracy
    assert torch.all((res.metrics.auroc - 0.5).abs() < 0.1), res.metrics.auroc
    assert not torch.isnan(res.scores).any()


# ------------------------------------------------------------------------------------------ splits


def _parallel_dataset(n_items=40, languages=("en", "zh", "th")):
    rows = []
    for lang in languages:
        for i in range(n_items):
            rows.append(
                data.Example(text=f"{lang} text {i}", label=i % 2, language=lang, item_id=f"item-{i}", source="t")
            )
    return data.Dataset(rows)


def test_no_item_id_on_both_sides_of_any_split():
    ds = _parallel_dataset()
    folds = fold_ids(ds, k=4, seed=1)
    assert sorted(set(folds.tolist())) == [0, 1, 2, 3]
    for j in range(4):
        train = {i for i, f in zip(ds.item_ids, folds.tolist()) if f != j}
        test = {i for i, f in zip(ds.item_ids, folds.tolist()) if f == j}
        assert test and train and not train & test
    test_mask = holdout_folds(ds, test_fraction=0.25)
    train = {i for i, t in zip(ds.item_ids, test_mask.tolist()) if not t}
    test = {i for i, t in zip(ds.item_ids, test_mask.tolist()) if t}
    assert test and not train & test
    # splits by row are refused
    by_row = torch.arange(len(ds)) % 3
    x, y = torch.randn(1, len(ds), 4), torch.tensor(ds.labels)
    with pytest.raises(ProbeDataError, match="item 'item-0' is in folds"):
        transfer_matrix(x, y, ds.row_languages, by_row, item_ids=ds.item_ids)
    with pytest.raises(ProbeDataError, match="is in folds"):
        cross_validate(x, y, by_row, item_ids=ds.item_ids)


# ------------------------------------------------------------------------------------------ transfer


def test_transfer_matrix_shapes_and_a_language_with_another_direction():
    ds = _parallel_dataset(n_items=80, languages=("en", "zh", "th"))
    g = torch.Generator().manual_seed(1)
    d = 16
    shared = torch.randn(d, generator=g)
    own = torch.randn(d, generator=g)
    own -= (own @ shared) / (shared @ shared) * shared  # orthogonal to the shared direction
    y = torch.tensor(ds.labels)
    sign = (2 * y - 1).float()[:, None]
    x = torch.randn(len(ds), d, generator=g)
    is_th = torch.tensor([l == "th" for l in ds.row_languages])[:, None]
    x = x + 2.0 * sign * torch.where(is_th, own / own.norm(), shared / shared.norm())
    acts = torch.stack([x, torch.randn(len(ds), d, generator=g)])  # layer 0 informative, layer 1 noise
    res = transfer_matrix(acts, y, ds.row_languages, fold_ids(ds, k=4), item_ids=ds.item_ids)
    assert res.metrics.shape == (2, 3, 3) and res.fold_metrics.shape == (4, 2, 3, 3)
    assert res.train_languages == ["en", "zh", "th"] == res.test_languages and res.folds == [0, 1, 2, 3]
    auc = res.metrics.auroc[0]
    assert auc[0, 0] > 0.95 and auc[0, 1] > 0.95 and auc[1, 0] > 0.95 and auc[2, 2] > 0.95  # en<->zh transfer
    assert (auc[0, 2] - 0.5).abs() < 0.15 and (auc[2, 0] - 0.5).abs() < 0.15  # th has its own direction
    assert torch.all((res.metrics.auroc[1] - 0.5).abs() < 0.2)
    assert res.diagonal().shape == (2, 3) and res.trained_on("en").shape == (2, 3)
    assert int(res.metrics.n[0, 0, 0]) == 80  # every en row tested once over the folds

    # one cell by hand: layer 0, trained on zh outside fold 2, tested on th in fold 2
    folds = fold_ids(ds, k=4)
    lang = ds.row_languages
    tr = torch.tensor([l == "zh" and f != 2 for l, f in zip(lang, folds.tolist())])
    te = torch.tensor([l == "th" and f == 2 for l, f in zip(lang, folds.tolist())])
    probe = fit_probes(acts[0, tr], y[tr])
    m = probe.evaluate(acts[0, te], y[te])
    assert abs(float(m.accuracy) - float(res.fold_metrics.accuracy[2, 0, 1, 2])) < 1e-6
    assert abs(float(m.auroc) - float(res.fold_metrics.auroc[2, 0, 1, 2])) < 1e-6


def _layered_problem(n_items, languages, informative, n_layers, d=8, strength=1.0, seed=0):
    """Activations ``[layer, n, d]``: the layers in ``informative`` carry a shared class direction,
    the others are noise."""
    ds = _parallel_dataset(n_items=n_items, languages=languages)
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor(ds.labels)
    sign = (2 * y - 1).float()[:, None]
    u = torch.randn(d, generator=g)
    u /= u.norm()
    acts = torch.randn(n_layers, len(ds), d, generator=g)
    for k in informative:
        acts[k] += strength * sign * u
    return ds, y, acts


def test_select_layer_matches_a_hand_nested_cross_validation():
    ds, y, acts = _layered_problem(40, ("en", "zh"), informative=[1, 2], n_layers=4, strength=0.6, seed=3)
    folds = fold_ids(ds, k=4)
    sel = select_layer(acts, y, ds.row_languages, folds, item_ids=ds.item_ids, metric="auroc", layers=[10, 11, 12, 13])
    assert sel.chosen.shape == (4, 2, 2) and sel.metrics.shape == (2, 2) and sel.fold_metrics.shape == (4, 2, 2)
    langs = ds.row_languages
    for j in range(4):
        keep = (folds != j).nonzero().reshape(-1)
        inner = transfer_matrix(acts[:, keep], y[keep], [langs[i] for i in keep], folds[keep])
        want = inner.metrics.auroc.argmax(0)  # [A, B]
        assert torch.equal(sel.chosen[j], want)
        for a in range(2):
            for b in range(2):
                k = int(want[a, b])
                assert float(sel.fold_metrics.auroc[j, a, b]) == float(sel.outer.fold_metrics.auroc[j, k, a, b])
    assert torch.allclose(sel.metrics.auroc, sel.fold_metrics.auroc.mean(0))
    assert torch.equal(sel.layer, sel.outer.metrics.auroc.argmax(0))
    assert sel.chosen_layers()[0][0][0] in (10, 11, 12, 13)
    assert int(sel.metrics.n[0, 0]) == 40  # every en row scored once
    # one layer for every pair
    m = select_layer(acts, y, langs, folds, metric="auroc", by="mean", outer=sel.outer)
    assert torch.all(m.chosen == m.chosen[:, :1, :1]) and torch.all(m.layer == m.layer[0, 0])
    s = select_layer(acts, y, langs, folds, metric="auroc", by="same_language", outer=sel.outer)
    diag = sel.outer.metrics.auroc[:, [0, 1], [0, 1]].mean(1)
    assert torch.all(s.layer == diag.argmax())
    again = sel.choose(by="same_language")  # from the stored inner metrics, no refit
    assert torch.equal(again.chosen, s.chosen) and torch.equal(again.metrics.auroc, s.metrics.auroc)
    with pytest.raises(ValueError, match="unknown metric 'x'"):
        sel.choose(metric="x")


def test_select_layer_removes_the_bias_of_choosing_on_the_reported_folds():
    # 20 layers of pure noise, 4 independent languages: the best layer on the reported folds looks
    # better than chance (seeds 0-5: 0.68-0.73 on the diagonal), the nested estimate does not
    # (0.41-0.54 on the diagonal, 0.47-0.53 over all 16 pairs)
    ds, y, acts = _layered_problem(30, ("a", "b", "c", "d"), informative=[], n_layers=20, d=4, seed=0)
    sel = select_layer(acts, y, ds.row_languages, fold_ids(ds, k=5), metric="accuracy")
    i = torch.arange(4)
    optimistic, nested = float(sel.optimistic.accuracy[i, i].mean()), float(sel.metrics.accuracy[i, i].mean())
    assert optimistic > 0.62 and optimistic - nested > 0.1
    assert abs(float(sel.metrics.accuracy.mean()) - 0.5) < 0.06
    # with a real signal in one layer both find it
    ds, y, acts = _layered_problem(30, ("en",), informative=[7], n_layers=12, d=4, strength=2.0, seed=0)
    sel = select_layer(acts, y, ds.row_languages, fold_ids(ds, k=5))
    assert torch.all(sel.chosen == 7) and int(sel.layer[0, 0]) == 7 and float(sel.metrics.accuracy[0, 0]) > 0.9


def test_select_layer_refuses_bad_input():
    ds, y, acts = _layered_problem(20, ("en", "zh"), informative=[0], n_layers=2)
    folds = fold_ids(ds, k=4)
    with pytest.raises(ValueError, match="unknown metric 'acc'"):
        select_layer(acts, y, ds.row_languages, folds, metric="acc")
    with pytest.raises(ValueError, match="unknown by='diag'; one of pair, mean, same_language"):
        select_layer(acts, y, ds.row_languages, folds, by="diag")
    with pytest.raises(ProbeDataError, match="at least 3 folds"):
        select_layer(acts, y, ds.row_languages, holdout_folds(ds, test_fraction=0.3).long())
    with pytest.raises(ValueError, match="by='same_language': no training language"):
        select_layer(
            acts, y, ds.row_languages, folds, by="same_language", train_languages=["en"], test_languages=["zh"]
        )
    other = transfer_matrix(acts, y, ds.row_languages, fold_ids(ds, k=5))
    with pytest.raises(ValueError, match="does not fit"):
        select_layer(acts, y, ds.row_languages, folds, outer=other)


def test_early_prediction_signal_grows_with_the_prefix():
    ds = _parallel_dataset(n_items=100, languages=("en", "zh"))
    g = torch.Generator().manual_seed(2)
    fractions = [0.25, 0.5, 1.0]
    d = 12
    direction = torch.randn(d, generator=g)
    direction /= direction.norm()
    y = torch.tensor(ds.labels)
    sign = (2 * y - 1).float()[:, None]
    acts = torch.stack([torch.randn(len(ds), d, generator=g) + 3 * f * f * sign * direction for f in fractions])
    res = early_prediction(acts, y, ds.row_languages, fold_ids(ds, k=4), fractions, item_ids=ds.item_ids)
    assert res.whole.shape == (3, 2) and res.per_fraction.shape == (3, 2)
    for m in (res.whole, res.per_fraction):
        assert torch.all(m.auroc[0] < m.auroc[1]) and torch.all(m.auroc[1] < m.auroc[2] + 1e-6)
    at = res.at(0.5)
    assert set(at) == {"en", "zh"} and set(at["en"]) == {"whole", "per_fraction"}
    with pytest.raises(KeyError, match="was not computed"):
        res.at(0.3)
    # the rows are checked as transfer_matrix checks them
    with pytest.raises(ValueError, match=r"language 'th' has no rows; present: \['en', 'zh'\]"):
        early_prediction(acts, y, ds.row_languages, fold_ids(ds, k=4), fractions, train_languages=["en", "th"])
    with pytest.raises(ProbeDataError, match="languages for"):
        early_prediction(acts, y, ds.row_languages[:-1], fold_ids(ds, k=4), fractions)
    with pytest.raises(ProbeDataError, match="fold 7 holds no rows"):
        early_prediction(acts, y, ds.row_languages, fold_ids(ds, k=4), fractions, test_folds=[7])


def test_early_results_over_disjoint_folds_join_into_the_full_result():
    ds = _parallel_dataset(n_items=40, languages=("en", "zh"))
    g = torch.Generator().manual_seed(4)
    y = torch.tensor(ds.labels)
    acts = torch.randn(2, len(ds), 6, generator=g) + torch.tensor([0.5, 1.0])[:, None, None] * (2 * y - 1)[:, None]
    folds = fold_ids(ds, k=4)
    args = (acts, y, ds.row_languages, folds, [0.5, 1.0])
    full = early_prediction(*args)
    parts = [early_prediction(*args, test_folds=[3, 1]), early_prediction(*args, test_folds=[0, 2])]
    joined = type(full).join(parts)
    assert full.folds == [0, 1, 2, 3] and parts[0].folds == [3, 1] and joined.folds == [0, 1, 2, 3]
    for name in ("whole", "per_fraction", "fold_whole", "fold_per_fraction"):
        for k in ("accuracy", "auroc", "n"):
            assert torch.allclose(getattr(getattr(joined, name), k).double(), getattr(getattr(full, name), k).double())
    with pytest.raises(ValueError, match="overlapping folds"):
        type(full).join([full, parts[0]])
    with pytest.raises(ValueError, match="other fractions"):
        type(full).join([parts[0], early_prediction(acts[:1], y, ds.row_languages, folds, [1.0], test_folds=[0])])


# ------------------------------------------------------------------------------------------ metrics


def test_metrics_match_scikit_learn_with_ties_and_masks():
    g = torch.Generator().manual_seed(4)
    y = (torch.rand(4, 50, generator=g) < 0.4).long()
    scores = torch.round(torch.randn(4, 50, generator=g) * 2) / 2  # many ties
    mask = torch.rand(4, 50, generator=g) < 0.8
    m = binary_metrics(scores, y, mask)
    for i in range(4):
        s, t = scores[i][mask[i]].numpy(), y[i][mask[i]].numpy()
        pred = (s > 0).astype(int)
        assert abs(float(m.accuracy[i]) - accuracy_score(t, pred)) < 1e-6
        assert abs(float(m.f1[i]) - f1_score(t, pred)) < 1e-6
        assert abs(float(m.auroc[i]) - roc_auc_score(t, s)) < 1e-6
        assert abs(float(m.pr_auc[i]) - average_precision_score(t, s)) < 1e-6
        assert int(m.n[i]) == mask[i].sum() and int(m.n_positive[i]) == t.sum()
    d = m.to_dict()
    assert d["positive_class"] == "1 (harmful)" and len(d["auroc"]) == 4
    one_class = binary_metrics(torch.randn(5), torch.ones(5, dtype=torch.long))
    assert math.isnan(float(one_class.auroc))


# ------------------------------------------------------------------------------------------ probe object


def test_raw_weights_direction_and_save_load(tmp_path, device):
    x, y, direction = planted(n=300, d=20, seed=11, margin=1.5, flip=0.05)
    acts = torch.stack([x, 2 * x + 1])  # two "layers"
    probe = fit_probes(acts.to(device), y, C=0.3, class_weight="balanced", axes=("layer",), coords={"layer": [4, 5]})
    # raw-space weights reproduce the standardised computation
    z = (acts.to(device) - probe.mean.unsqueeze(1)) / probe.scale.unsqueeze(1)
    by_hand = (z @ probe.coef.unsqueeze(-1)).squeeze(-1) + probe.intercept.unsqueeze(-1)
    torch.testing.assert_close(probe.decision_function(acts.to(device)), by_hand, rtol=1e-4, atol=1e-3)
    # the direction is unit length, agrees with the planted one, and harmful rows project higher
    dirn = probe.direction
    torch.testing.assert_close(dirn.norm(dim=-1).cpu(), torch.ones(2), rtol=1e-5, atol=1e-5)
    raw = direction / torch.logspace(-1, 1, 20)  # the planted direction in raw coordinates
    assert cos(dirn[0].cpu(), raw) > 0.7  # (L2 shrinks towards the standardised axes)
    torch.testing.assert_close(dirn, probe.weight / probe.weight.norm(dim=-1, keepdim=True))
    proj = acts[0] @ dirn[0].cpu()
    assert proj[y == 1].mean() > proj[y == 0].mean()
    # shared rows score under every probe: [n, d] -> [layer, n]
    assert probe.decision_function(x.to(device)).shape == (2, 300)
    # indexing keeps axes and coords
    assert probe[1].batch_shape == () and probe[1].axes == () and probe[:1].coords == {"layer": [4]}
    path = probe.save(tmp_path / "probe")
    assert path.suffix == ".safetensors"
    back = Probe.load(path, device=device)
    torch.testing.assert_close(back.decision_function(acts.to(device)), probe.decision_function(acts.to(device)))
    assert back.axes == ("layer",) and back.coords == {"layer": [4, 5]} and back.class_weight == "balanced"
    assert torch.equal(back.predict(acts.to(device)), probe.predict(acts.to(device)))
    probe2 = fit_probes(x, y, class_weight={0: 1.0, 1: 2.0})
    assert Probe.load(probe2.save(tmp_path / "p2.safetensors")).class_weight == {0: 1.0, 1: 2.0}
    with pytest.raises(ValueError, match="not a mechint probe"):
        from safetensors.torch import save_file

        save_file({"a": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
        Probe.load(tmp_path / "other.safetensors")


def test_probe_direction_steers_a_model(make_model):
    """The probe's direction works as an intervention: adding it raises the probe's harmful logit."""
    import mechint

    model = make_model("llama")
    texts = [f"text number {i} " + "ab" * (i % 5) for i in range(40)]
    acts = mechint.collect(model, texts, "blocks.1.hook_resid_post", progress=False)["blocks.1.hook_resid_post"]
    y = torch.arange(40) % 2
    probe = fit_probes(acts, y)
    before = probe.decision_function(acts)
    steer = mechint.add_value(3.0 * probe.direction)
    got = {}
    with model.hooks([("blocks.1.hook_resid_post", steer), ("blocks.1.hook_resid_post", mechint.record(got))]):
        model.forward(texts[:4], logits=False)
    after = probe.decision_function(got["blocks.1.hook_resid_post"][:, -1])
    torch.testing.assert_close(
        after - before[:4], torch.full((4,), 3.0 * float(probe.weight.norm())), rtol=1e-3, atol=1e-3
    )


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.bad_input
def test_errors_are_named():
    x, y, _ = planted(n=50, d=8)
    with pytest.raises(ProbeDataError, match="one class only"):
        fit_probes(x, torch.ones(50, dtype=torch.long))
    with pytest.raises(ProbeDataError, match=r"layer 1 has training rows of one class only \(no label 0\)"):
        fit_probes(torch.stack([x, x]), torch.stack([y, torch.ones(50, dtype=torch.long)]), axes=("layer",))
    with pytest.raises(ProbeDataError, match="49 labels for 50 rows.*mismatched"):
        fit_probes(x, y[:49])
    with pytest.raises(ProbeDataError, match="must be 0 .harmless. or 1"):
        fit_probes(x, y * 2)
    bad = torch.stack([x, x.clone()])
    bad[1, 7, 3] = float("nan")
    bad[1, 9, 0] = float("nan")
    with pytest.raises(ProbeDataError, match=r"NaN at layer 1: rows \[7, 9\]"):
        fit_probes(bad, y, axes=("layer",))
    with pytest.raises(ProbeDataError, match=r"NaN at layer 1: rows \[7, 9\]"):  # checked chunk by chunk
        fit_probes(bad, y, axes=("layer",), max_batch_bytes=1, device="cuda" if torch.cuda.is_available() else "cpu")
    bad[1, 7, 3] = bad[1, 9, 0] = float("inf")
    with pytest.raises(ProbeDataError, match=r"contain inf at problem \(1,\)"):
        fit_probes(bad, y)
    # with rows=, the problem, its rows and the activation rows they read are named
    nan_src = x.clone()
    nan_src[7, 3] = float("nan")
    idx = torch.stack([torch.arange(25, 50), torch.arange(24, -1, -1)])
    with pytest.raises(
        ProbeDataError, match=r"NaN at problem \(1,\): rows \[17\] \(1 rows\) \(activation rows \[7\]\)"
    ):
        fit_probes(nan_src, y[idx], rows=idx)
    assert fit_probes(nan_src, y[idx[:1]], rows=idx[:1]).converged.all()  # a NaN in a row no problem reads
    gpu = "cuda" if torch.cuda.is_available() else "cpu"  # host rows copied to a GPU are checked on arrival
    with pytest.raises(
        ProbeDataError, match=r"NaN at problem \(1,\): rows \[17\] \(1 rows\) \(activation rows \[7\]\)"
    ):
        fit_probes(nan_src, y[idx], rows=idx, device=gpu, solver="dual")
    assert fit_probes(nan_src, y[idx[:1]], rows=idx[:1], device=gpu, solver="dual").converged.all()
    with pytest.raises(ValueError, match="rows index 50, outside the 50 rows"):
        fit_probes(x, y[:3], rows=torch.tensor([0, 1, 50]))
    with pytest.raises(ValueError, match="integer row indices"):
        fit_probes(x, y, rows=torch.arange(50.0))
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        fit_probes(x, y, dtype=torch.bfloat16)
    # a NaN row left out of the fit is not an error
    w = torch.ones(50)
    w[[7, 9]] = 0
    assert fit_probes(bad, y, sample_weight=w).converged.all()
    with pytest.raises(ProbeDataError, match="NaN"):
        fit_probes(x, y).evaluate(bad[1].nan_to_num(posinf=float("nan")), y)
    with pytest.raises(ValueError, match="C must be positive"):
        fit_probes(x, y, C=0)
    with pytest.raises(ValueError, match="class_weight"):
        fit_probes(x, y, class_weight="auto")
    with pytest.raises(ValueError, match="width"):
        fit_probes(x, y).decision_function(torch.randn(3, 9))
