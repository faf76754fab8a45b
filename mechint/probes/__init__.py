"""Linear probes: L2-regularised logistic regression for many problems at once, on any device.

A probe predicts the label (1 harmful, 0 harmless) of a text from one activation vector. Studies fit
one per layer, per training language, per fold, per prefix length: thousands of small problems.
:func:`fit_probes` fits all of them in one call on the activations' device, each problem converging
on its own (a converged problem leaves the batch) and optionally starting from an earlier solution
(``init=``: the neighbouring layer, fold or prefix fraction).

The objective is scikit-learn's ``LogisticRegression(C=C)`` (L2, ``lbfgs``/``newton-cholesky``)
after a ``StandardScaler`` fitted on the training rows, problem by problem::

    minimise over (w, b):  C * sum_i s_i * log(1 + exp(-(2 y_i - 1) (x_i . w + b)))  +  ||w||^2 / 2

``s_i`` is the sample weight times the class weight (``class_weight="balanced"``:
``n / (2 n_class)``, as scikit-learn computes it); the intercept ``b`` is not penalised. Features are
standardised with the training rows' mean and standard deviation (``ddof=0``; a constant feature
keeps scale 1), as ``StandardScaler`` does; ``standardize=False`` fits the raw features.

Three solvers (``solver="auto"``: L-BFGS on a CPU, Newton on a GPU):

- ``"lbfgs"``: limited-memory BFGS, each iteration two passes over a problem's rows (a gradient and
  a direction): on a CPU that costs less than forming a Hessian. On a CPU it runs compiled
  (:mod:`mechint.probes._lbfgs_cpu`, numba): each problem start to finish in one call, its
  standardised rows in a core's cache, the problems shared out over ``torch.get_num_threads()``
  threads (the first fit after installation compiles it, then it is cached on disk). On other
  devices every problem runs at once in one batch.
- ``"primal"`` Newton (more rows than features): the ``[d+1, d+1]`` Hessian of every problem is
  formed with one batched matrix product and solved with a batched Cholesky factorisation.
- ``"dual"`` Newton (fewer rows than features): the weights lie in the span of the training rows,
  so the Newton step is solved in that ``n``-dimensional space from the rows' Gram matrix, computed
  once: the system is ``[n, n]`` instead of ``[d+1, d+1]``.

All three take steps of the length that minimises the objective along the step's direction (a
one-dimensional convex search that costs O(n) per problem, since the function values move linearly
along it; the best Newton step is often longer than the full step early on, and taking it saves
Newton iterations), and stop a problem when the largest absolute component of its gradient, divided
by the sum of its sample weights, is at most ``tol``: scikit-learn's ``lbfgs`` criterion (``gtol``)
on the same averaged objective. Speed against scikit-learn: ``benchmarks/bench_probes.py`` and the
README.

Metrics (:func:`binary_metrics`): accuracy, F1, AUROC and PR-AUC (average precision), with class 1
(harmful) as the positive class and logit 0 (probability 0.5) as the threshold.

The modules, each importing only those above it:

- :mod:`~mechint.probes._common`: :class:`ProbeDataError` and the input checks the others share.
- :mod:`~mechint.probes.metrics`: :func:`binary_metrics`, :class:`Metrics`, the positive class.
- :mod:`~mechint.probes.probe`: :class:`Probe` (indexing, prediction, evaluation, its file format).
- :mod:`~mechint.probes._solvers`: the batched torch solvers (Newton primal and dual, L-BFGS);
  :mod:`~mechint.probes._lbfgs_cpu`: the compiled CPU L-BFGS.
- :mod:`~mechint.probes.fit`: :func:`fit_probes`, its argument checks, the dispatch to a solver.
- :mod:`~mechint.probes.evaluation`: splits by item (:func:`fold_ids`, :func:`holdout_folds`),
  :func:`cross_validate`, :func:`transfer_matrix`, :func:`select_layer`, :func:`early_prediction`.

The public names are importable from ``mechint.probes``; a helper is reached in its own module (to
patch one, patch it in the module that calls it: ``mechint.probes.fit.newton_primal``).
"""

from __future__ import annotations

from ._common import ProbeDataError
from .evaluation import (
    CVResult,
    EarlyResult,
    LayerSelection,
    TransferResult,
    cross_validate,
    early_prediction,
    fold_ids,
    holdout_folds,
    select_layer,
    split_ids,
    transfer_matrix,
)
from .fit import ClassWeight, ProbeConvergenceWarning, Solver, fit_probes
from .metrics import POSITIVE_CLASS, POSITIVE_NAME, Metrics, binary_metrics
from .probe import Probe

__all__ = [
    "ClassWeight",
    "Solver",
    "POSITIVE_CLASS",
    "POSITIVE_NAME",
    "Probe",
    "Metrics",
    "ProbeDataError",
    "ProbeConvergenceWarning",
    "fit_probes",
    "binary_metrics",
    "fold_ids",
    "holdout_folds",
    "split_ids",
    "cross_validate",
    "CVResult",
    "transfer_matrix",
    "TransferResult",
    "early_prediction",
    "EarlyResult",
    "select_layer",
    "LayerSelection",
]
