"""Trace-replay simulator: Mode A (app-level) and Mode B (container pool), baseline policies, Pareto sweeps."""
