"""Deprecated: moved to :mod:`mechint.plots.probes` (every helper is also in :mod:`mechint.plots`).

``mechint.plots_probes`` keeps working for one release: it re-exports every name of
:mod:`mechint.plots.probes` (the same objects) and warns once, on import.
"""

import warnings

from . import plots as _plots
from .plots import probes as _new
from .plots.probes import *  # noqa: F401,F403
from .plots.probes import __all__  # noqa: F401

warnings.warn(
    "mechint.plots_probes is deprecated and will be removed in the next release: import from "
    "mechint.plots.probes (or mechint.plots) instead",
    DeprecationWarning,
    stacklevel=2,
)


#: The shared helpers the former module imported from mechint/plots.py, under their former names.
_FORMER_HELPERS = ("_to_numpy",)


def __getattr__(name: str):
    if name in _FORMER_HELPERS:
        return getattr(_plots, name)
    return getattr(_new, name)  # the module's other names (private helpers, constants)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_new)) | set(_FORMER_HELPERS))
