"""Actuators that turn clone plans into containers on Docker and Kubernetes hosts (the only place that
imports docker / kubernetes)."""
