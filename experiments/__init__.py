"""Study scripts: one module per study, each with ``run(model, out_dir) -> dict``."""
