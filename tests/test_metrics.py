"""Metric builders against hand computations: token sets given as numpy or torch values, repeats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechint.patching.metrics import answer_prob, logit_diff


def _logits() -> torch.Tensor:
    return torch.randn(3, 4, 10, generator=torch.Generator().manual_seed(0))


def test_token_ids_may_be_numpy_or_tensor_integers():
    x = _logits()
    want = x[:, -1, 3] - x[:, -1, 2]
    for correct, incorrect in [(np.int64(3), 2), (torch.tensor(3), torch.tensor([2])), (np.array([3]), [np.int64(2)])]:
        torch.testing.assert_close(logit_diff(correct, incorrect)(x), want)
    per_pair = logit_diff(np.array([[3], [4], [5]]), 2)(x)
    torch.testing.assert_close(per_pair, x[torch.arange(3), -1, torch.tensor([3, 4, 5])] - x[:, -1, 2])
    with pytest.raises(TypeError, match="integers"):
        logit_diff(3.0, 2)
    with pytest.raises(TypeError, match="integers"):
        answer_prob(torch.tensor([1.0]))


def test_a_token_set_counts_each_id_once():
    x = _logits()
    p = x[:, -1].softmax(-1)
    torch.testing.assert_close(answer_prob([1, 1])(x), p[:, 1])
    torch.testing.assert_close(
        answer_prob([[1, 1, 2], [3], [4]])(x), torch.stack([p[0, 1] + p[0, 2], p[1, 3], p[2, 4]])
    )
    torch.testing.assert_close(logit_diff([3, 3, 4], [2])(x), (x[:, -1, 3] + x[:, -1, 4]) / 2 - x[:, -1, 2])
