"""Deprecated name of :mod:`mechint.disk` (the on-disk cache folder and its atomic writes and locks),
renamed because ``cache`` also names what :meth:`mechint.Model.run_with_cache` returns. Kept for one
release."""

import warnings

from .disk import *  # noqa: F401,F403
from .disk import __all__  # noqa: F401

warnings.warn("mechint.cache is now mechint.disk", DeprecationWarning, stacklevel=2)
