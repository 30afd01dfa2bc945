"""Demand forecasters behind one `PanelModel` protocol (`models.backtest`), their evaluation and tuning, and the
MLflow registry (only `models/registry*` imports mlflow)."""
