"""Deprecated name of :mod:`mechint.plots.probes` (the probe figures); kept for one release."""

from ._validate import moved

moved(globals(), "mechint.plots_probes", "mechint.plots.probes")
