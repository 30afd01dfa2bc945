"""Applying a clone plan: the actuator of a kind (docker, kubernetes; none for a dry-run without an engine) built
from the settings, the fleet it places onto, the clones it runs now, and the plan reconciled through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from actuators.base import Actuator, ApplyReport
from clonecast.errors import ActuatorError, ConfigError
from clonecast.settings import Settings
from policy.plan import ClonePlan, State
from traces.frames import hosts_frame
from traces.loaders.hosts import read_hosts

KINDS = ("dry-run", "docker", "kubernetes")
ENGINES = KINDS[1:]
FLEETS = Path(__file__).resolve().parent / "fleets"  # package data: fleets the defaults plan onto
DEMO_FLEET = FLEETS / "demo"  # hosts.csv and latency.csv of the demo fleet a dry-run plans onto
LOCAL_FLEET = FLEETS / "local"  # docker-hosts.csv: this machine's engine as one host


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"actuator must be dry-run, docker or kubernetes, not {kind!r}")
    return kind


def kubernetes_api(settings: Settings) -> Any:
    """An API client of the cluster in the settings' kubeconfig."""
    from actuators.kubernetes_engine import api_client

    if settings.kubeconfig is None:
        raise ConfigError("no kubeconfig for the kubernetes actuator: set CLONECAST_KUBECONFIG (or KUBECONFIG)")
    return api_client(str(settings.kubeconfig))


def default_hosts(kind: str, settings: Settings) -> pd.DataFrame:
    """The fleet when none is given: the demo fleet (dry-run), this machine's engine (docker), the cluster's
    Ready nodes (kubernetes)."""
    if check_kind(kind) == "kubernetes":
        from actuators.kubernetes_engine import node_hosts

        return node_hosts(kubernetes_api(settings))
    return read_hosts(LOCAL_FLEET / "docker-hosts.csv" if kind == "docker" else DEMO_FLEET / "hosts.csv")


def hosts(kind: str, settings: Settings, path: Path | None = None, *, zones: int = 3) -> pd.DataFrame:
    """The hosts frame of `path` (hosts CSV/Parquet or an openb node list), else the kind's default fleet."""
    return read_hosts(path, zones=zones) if path is not None else default_hosts(kind, settings)


def actuator(
    kind: str,
    programs: pd.DataFrame,
    hosts: pd.DataFrame,
    settings: Settings,
    *,
    namespace: str = "clonecast",
    serving: bool = False,
) -> Actuator | None:
    """The actuator of `kind` over `hosts` (None for a dry-run: no engine is touched). `serving`: the clones serve
    live traffic behind an ingress that probes their readiness (Docker checks their health at its default interval)."""
    if check_kind(kind) == "dry-run":
        return None
    hosts = hosts_frame(hosts)
    if kind == "docker":
        from actuators.docker_engine import SERVING_HEALTH_INTERVAL_S, DockerActuator

        interval = SERVING_HEALTH_INTERVAL_S if serving else None
        return DockerActuator(
            {h: settings.docker_host for h in hosts["host"]}, programs, hosts, health_interval_s=interval
        )
    from actuators.kubernetes_engine import KubernetesActuator

    return KubernetesActuator(kubernetes_api(settings), namespace, programs, hosts)


def running(engine: Actuator | None, previous: Path) -> State:
    """The clones that exist now: what the engine runs, or (no engine) what the `previous` plan left."""
    if engine is not None:
        return engine.observe().clones
    if not previous.exists():
        return {}
    return ClonePlan.from_dict(json.loads(previous.read_text())).desired()


def apply(plan: ClonePlan, engine: Actuator | None, *, dry_run: bool = False) -> ApplyReport | None:
    """Converge the engine to the plan (reconcile: failing clones replaced); a dry-run only reports what would
    change. ActuatorError, naming the failed pairs, when any pair failed; None without an engine."""
    if engine is None:
        return None
    report = engine.reconcile(plan, dry_run=dry_run)
    if not report.ok:
        failed = [r for r in report.results if r.status not in ("ok", "dry-run")]
        shown = "; ".join(f"{r.program_code} on {r.host}: {r.error}" for r in failed[:5])
        raise ActuatorError(f"actuation failed for {len(failed)} of {len(report.results)} pairs: {shown}")
    return report


def read_plan(path: Path) -> ClonePlan:
    """A clone plan written by `clonecast plan` or the deploy flow."""
    from clonecast.errors import PlanError

    try:
        return ClonePlan.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PlanError(f"{path}: not a clone plan ({e}); write one with clonecast plan") from e
