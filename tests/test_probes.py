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
    split_ids,
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
        a = fit_probes(x3.to(device), y[idx], rows=idx.to(device), sample_weight=w, solver=solver, tol=1e-8,
                       max_batch_bytes=1)  # one problem per chunk: the gather happens chunk by chunk
        b = fit_probes(x3[:, idx].to(device), y[idx], sample_weight=w, solver=solver, tol=1e-8)
        assert a.batch_shape == (3, 2), solver
        for name in ("coef", "intercept", "mean", "scale"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6, msg=f"{solver} {name}")


def test_compiled_cpu_lbfgs_matches_the_batched_solver():
    """On a CPU, L-BFGS runs compiled one problem at a time (mechint._lbfgs_cpu); it reaches the
    probes of the batched torch L-BFGS that other devices run, and the threads that share the
    problems out do not change any result."""
    from mechint import _lbfgs_cpu
    from mechint.probes import _fit_chunk

    xs, ys = [], []
    for seed in range(9):
        x, y, _ = planted(n=100, d=40, seed=5 + seed, margin=0.3 + seed, flip=0.1 * (seed % 3))
        xs.append(x)
        ys.append(y)
    x, y = torch.stack(xs), torch.stack(ys)
    compiled = fit_probes(x, y, tol=1e-8)
    ones = torch.ones(9, 100, dtype=torch.float64)
    coef, b, mean, scale, n_iter, conv = _fit_chunk(
        x, y, ones, ones.bool(), torch.ones(9, dtype=torch.float64), None, None, standardize=True, tol=1e-8,
        max_iter=1000, solver="lbfgs", device=torch.device("cpu"), dtype=torch.float32,
    )
    assert bool(compiled.converged.all()) and bool(conv.all())
    for p in range(9):
        assert cos(compiled.coef[p], coef[p]) > 0.9999, p
    torch.testing.assert_close(compiled.intercept.double(), b, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(compiled.mean, mean, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(compiled.scale, scale, rtol=1e-5, atol=1e-5)
    # the same method: iteration counts close in total (the step searches stop at different tolerances)
    assert abs(int(compiled.n_iter.sum()) - int(n_iter.sum())) <= 0.25 * int(n_iter.sum())
    args = (x.numpy(), torch.arange(9).numpy(), torch.arange(100).reshape(1, 100).numpy(),
            torch.zeros(9, dtype=torch.long).numpy(), y.double().numpy(), ones.numpy(), torch.ones(9).double().numpy(), None)
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
            rows.append(data.Example(text=f"{lang} text {i}", label=i % 2, language=lang, item_id=f"item-{i}", source="t"))
    return data.Dataset(rows)


def test_no_item_id_on_both_sides_of_any_split():
    ds = _parallel_dataset()
    folds = fold_ids(ds, k=4, seed=1)
    assert sorted(set(folds.tolist())) == [0, 1, 2, 3]
    for j in range(4):
        train = {i for i, f in zip(ds.item_ids, folds.tolist()) if f != j}
        test = {i for i, f in zip(ds.item_ids, folds.tolist()) if f == j}
        assert test and train and not train & test
    test_mask = split_ids(ds, test_fraction=0.25)
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
    assert res.train_languages == ["en", "zh", "th"] == res.test_languages
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
    with model.hooks([("blocks.1.hook_resid_post", steer), ("blocks.1.hook_resid_post", mechint.save(got))]):
        model.forward(texts[:4], logits=False)
    after = probe.decision_function(got["blocks.1.hook_resid_post"][:, -1])
    torch.testing.assert_close(after - before[:4], torch.full((4,), 3.0 * float(probe.weight.norm())), rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------------------------------ errors


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
    with pytest.raises(ProbeDataError, match=r"NaN at problem \(1,\): rows \[17\] \(1 rows\) \(activation rows \[7\]\)"):
        fit_probes(nan_src, y[idx], rows=idx)
    assert fit_probes(nan_src, y[idx[:1]], rows=idx[:1]).converged.all()  # a NaN in a row no problem reads
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
