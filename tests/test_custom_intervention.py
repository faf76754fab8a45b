"""A custom intervention written from public names only, as the mechint.interventions docstring
shows, checked against raw ``register_forward_hook`` hooks on the Hugging Face decoder layers; and a
guard that no mechint module imports another module's private names (``_validate`` aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from conftest import TEXTS, assert_site_close

# public names only: nothing here starts with an underscore
from mechint.interventions import Intervention, cell_writer, intervene, resolve_positions
from mechint.positions import Block, Picked, cells, from_text_start, per_row
from mechint.testing import FAMILY_NAMES


class ScaleResidual(Intervention):
    """The residual stream after ``layer`` times ``factor`` (a number, or one per row)."""

    def __init__(self, layer, factor, *, positions=None, rows=None):
        self.layer, self.factor = layer, torch.as_tensor(factor, dtype=torch.float32)
        self.positions, self.rows = positions, rows

    def hooks(self, model):
        site = model.site(f"blocks.{self.layer}.hook_resid_post")

        def update(cells, ctx, picked: Picked):  # [rows, pos, d_model] in float32
            f = self.factor.to(cells.device, cells.dtype).reshape(-1, 1, 1)
            return cells * per_row(f, picked, cells.ndim)

        return [(site, cell_writer(update, resolve_positions(model, self.positions), self.rows))]


class AddAtCells(Intervention):
    """Adds ``alpha[row] * vector`` at ``positions`` x ``rows`` after ``layer``, with a hook function
    written on :func:`mechint.positions.cells` directly (no cell_writer)."""

    def __init__(self, layer, vector, alpha, *, positions=None, rows=None):
        self.layer, self.vector, self.alpha = layer, vector, torch.as_tensor(alpha, dtype=torch.float32)
        self.positions, self.rows = positions, rows

    def hooks(self, model):
        site = model.site(f"blocks.{self.layer}.hook_resid_post")
        positions = resolve_positions(model, self.positions)

        def fn(x, ctx):
            blocks: list[Block] = cells(positions, self.rows, x, ctx)
            if not blocks:
                return None
            out = x.clone()
            for block in blocks:
                idx = block.index(x)
                a = per_row(self.alpha.to(x.device, x.dtype).reshape(-1, 1, 1), block.picked, x.ndim)
                out[idx] = x[idx] + a * self.vector.to(x.device, x.dtype)
            return out

        return [(site, fn)]


def _layer(model, layer):
    return model.hf.get_submodule(model.family.layers)[layer]


def _raw(module, edit):
    """A raw forward hook on a decoder layer: ``edit(hidden) -> hidden`` on its output."""

    def hook(mod, args, output):
        if isinstance(output, tuple):
            return (edit(output[0]), *output[1:])
        return edit(output)

    return module.register_forward_hook(hook)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_custom_interventions_from_public_names_match_raw_forward_hooks(family, make_model):
    model = make_model(family)
    enc = model.tokenize(TEXTS[:4])  # left-padded, texts of different lengths
    pad = (enc["attention_mask"] == 0).sum(1).tolist()
    seq_len = enc["input_ids"].shape[1]
    factor = torch.tensor([0.5, 2.0, -1.0, 3.0])
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    alpha = torch.tensor([4.0, -2.0])  # one per chosen row

    def run_ours(*interventions):
        with intervene(model, *interventions), torch.no_grad():
            return model(enc)

    def run_raw(edits):
        handles = [_raw(_layer(model, l), e) for l, e in edits]
        try:
            with torch.no_grad():  # the same forward (position ids for the left padding), no mechint hook
                return model(enc)
        finally:
            for h in handles:
                h.remove()

    def scale_but_bos(h):  # default positions: every token but each text's BOS
        out = h.clone()
        for r, p in enumerate(pad):
            out[r, p + 1 :] = h[r, p + 1 :] * factor[r]
        return out

    def add_rows(h):  # rows [2, 0] (alpha in that order), absolute positions [seq_len - 2, -1]
        out = h.clone()
        for r, a in ((2, alpha[0]), (0, alpha[1])):
            for c in (seq_len - 2, seq_len - 1):
                out[r, c] = h[r, c] + a * vec
        return out

    def add_text_start(h):  # from_text_start([1]): each row's second real token, every row
        out = h.clone()
        for r, p in enumerate(pad):
            out[r, p + 1] = h[r, p + 1] + 4.0 * vec
        return out

    cases = [
        ([ScaleResidual(1, factor)], [(1, scale_but_bos)]),
        ([AddAtCells(0, vec, alpha, rows=[2, 0], positions=[seq_len - 2, -1])], [(0, add_rows)]),
        ([AddAtCells(2, vec, 4.0, positions=from_text_start([1]))], [(2, add_text_start)]),
        (
            [ScaleResidual(1, factor), AddAtCells(2, vec, 4.0, positions=from_text_start([1]))],
            [(1, scale_but_bos), (2, add_text_start)],
        ),
    ]
    plain = run_raw([])
    for ours, raw in cases:
        got, want = run_ours(*ours), run_raw(raw)
        name = f"{family} {[type(i).__name__ for i in ours]}"
        assert_site_close(got, want, name=name)
        assert (got - plain).abs().max() > 1e-3, f"{name}: changed nothing"

    # 'all' through resolve_positions scales BOS too
    everywhere = run_ours(ScaleResidual(1, factor, positions="all"))
    assert_site_close(everywhere, run_raw([(1, lambda h: h * factor[:, None, None])]), name=f"{family} all")


def test_no_module_imports_another_modules_private_names():
    """``from .x import _name`` across mechint modules: only from the one private validation module."""
    known: dict[str, set[str]] = {}  # exceptions, by file: none left
    root = Path(__import__("mechint").__file__).parent
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.level) or node.module == "_validate":
                continue
            for alias in node.names:
                if node.module is None and (node.level == 1 or alias.name == "_validate"):
                    continue  # a sibling module of a package (_lbfgs_cpu), or the validation module
                private = alias.name.startswith("_") and not alias.name.startswith("__")  # __all__ is no secret
                if private and alias.name not in known.get(rel, set()):
                    bad.append(f"{rel}: from {'.' * node.level}{node.module or ''} import {alias.name}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)
