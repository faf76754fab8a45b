"""Deprecated name of :mod:`mechint.patching.metrics` (the patching metrics); kept for one release."""

from ._validate import moved

moved(globals(), "mechint.metrics", "mechint.patching.metrics")
