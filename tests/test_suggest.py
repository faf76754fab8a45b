"""The one nearest-name helper behind every "did you mean" / "nearest" in mechint's errors."""

from __future__ import annotations

from mechint._suggest import did_you_mean, nearest


def test_nearest_ranks_by_spelling_and_did_you_mean_formats_the_hint():
    sites = ["blocks.0.hook_resid_post", "blocks.0.hook_resid_pre", "blocks.0.hook_mlp_out", "hook_embed"]
    assert nearest("blocks.0.hook_resid_psot", sites, n=1) == ["blocks.0.hook_resid_post"]
    assert nearest("blocks.0.hook_resid_psot", sites, n=2) == ["blocks.0.hook_resid_post", "blocks.0.hook_resid_pre"]
    assert nearest("zzz", sites) == []  # nothing above the cutoff
    assert len(nearest("zzz", sites, n=3, cutoff=0.0)) == 3  # cutoff 0: always the n nearest
    assert nearest("x", [], cutoff=0.0) == []
    # key: compared case-insensitively, returned as given (the first of equal keys)
    assert nearest("EN", ["en", "En", "zh"], key=lambda s: str(s).lower()) == ["en"]
    # any candidates (compared through str), returned as the objects given
    got = nearest(8, [4, 18, 80], n=2, cutoff=0.0)
    assert sorted(got) == [18, 80] and all(type(x) is int for x in got)
    assert did_you_mean([]) == ""
    assert did_you_mean(["accuracy"]) == " (did you mean 'accuracy'?)"
    assert did_you_mean(["auroc", "pr_auc"]) == " (did you mean 'auroc' or 'pr_auc'?)"
    assert did_you_mean(["gemma-3-270m"], sentence=True) == " Did you mean 'gemma-3-270m'?"
