"""Deprecated name of :mod:`mechint.disk` (the cache folder, atomic writes and locks); kept for one release."""

from ._validate import moved

moved(globals(), "mechint.cache", "mechint.disk")
