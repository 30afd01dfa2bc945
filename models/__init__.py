"""Demand forecasters behind one `Forecaster` protocol and the MLflow registry (only `models/registry*`
imports mlflow). Arrives with the forecasting issue."""
