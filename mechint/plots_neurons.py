"""Deprecated: moved to :mod:`mechint.plots.neurons` (every helper is also in :mod:`mechint.plots`).

``mechint.plots_neurons`` keeps working for one release: it re-exports every name of
:mod:`mechint.plots.neurons` (the same objects) and warns once, on import.
"""

import warnings

from . import plots as _plots
from .plots import neurons as _new
from .plots.neurons import *  # noqa: F401,F403
from .plots.neurons import __all__  # noqa: F401

warnings.warn(
    "mechint.plots_neurons is deprecated and will be removed in the next release: import from "
    "mechint.plots.neurons (or mechint.plots) instead",
    DeprecationWarning,
    stacklevel=2,
)


#: The shared helpers the former module imported from mechint/plots.py, under their former names.
_FORMER_HELPERS = ("_base_layout", "_heatmap_trace", "_labels", "_to_numpy")


def __getattr__(name: str):
    if name in _FORMER_HELPERS:
        return getattr(_plots, name)
    return getattr(_new, name)  # the module's other names (private helpers, constants)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_new)) | set(_FORMER_HELPERS))
