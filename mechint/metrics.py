"""Deprecated: the patching metrics moved to :mod:`mechint.patching.metrics`.

``mechint.metrics`` keeps working for one release: it re-exports every name of
:mod:`mechint.patching.metrics` (the same objects) and warns once, on import.
"""

import warnings

from .patching import metrics as _new
from .patching.metrics import *  # noqa: F401,F403
from .patching.metrics import __all__  # noqa: F401

warnings.warn(
    "mechint.metrics is deprecated and will be removed in the next release: import from "
    "mechint.patching.metrics instead",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str):
    return getattr(_new, name)  # the module's other names (MetricFn, private helpers)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_new)))
