"""Deprecated name of :mod:`mechint.plots.neurons` (the neuron figures); kept for one release."""

from ._validate import moved

moved(globals(), "mechint.plots_neurons", "mechint.plots.neurons")
