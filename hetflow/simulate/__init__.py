"""Run a plan against the performance model instead of providers: the engine and the per-chip performance model."""
