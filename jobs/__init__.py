"""Jobs: each thing clonecast does (load + validate, train + register, gate, predict, plan, apply, simulate,
backtest, evaluate) written once over the stages; the CLI commands and the Prefect flows are thin adapters."""
