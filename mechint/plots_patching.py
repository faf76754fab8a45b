"""Deprecated name of :mod:`mechint.plots.patching` (the patching figures); kept for one release."""

from ._validate import moved

moved(globals(), "mechint.plots_patching", "mechint.plots.patching")
