"""Study scripts: one module per study, each with ``run(model, out_dir, *, n_per_class=None) -> dict``
and a command line (``python -m experiments.NAME``); ``python -m experiments`` runs them all. Studies
share code only through :mod:`experiments._common`."""
