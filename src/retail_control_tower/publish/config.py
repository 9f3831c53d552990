"""The ``publish`` parameter block (conf/base/parameters_publish.yml), read and checked.

It is checked even while publishing is off, so a typo fails in dev rather than on the day
prod turns it on; ids are required only when publishing is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REFRESH_MODES = ("enhanced", "standard")
ALTERYX_PRIORITIES = ("Default", "Low", "Medium", "High", "Critical")
ENHANCED_KEYS = ("type", "commitMode", "maxParallelism", "retryCount", "objects", "applyRefreshPolicy", "effectiveDate")


class PublishConfigError(ValueError):
    """The publish parameters contradict themselves or lack what publishing needs."""


@dataclass(frozen=True)
class Dataset:
    name: str
    workspace_id: str | None
    dataset_id: str | None
    refresh: str


@dataclass(frozen=True)
class PowerBi:
    authority_host: str
    scope: str
    api_url: str
    timeout_seconds: float
    poll_seconds: float
    enhanced: dict[str, Any]
    notify_option: str
    datasets: tuple[Dataset, ...]


@dataclass(frozen=True)
class Workflow:
    name: str
    workflow_id: str | None
    priority: str
    questions: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Alteryx:
    server_url: str | None
    timeout_seconds: float
    poll_seconds: float
    workflows: tuple[Workflow, ...]


@dataclass(frozen=True)
class Publish:
    enabled: bool
    ca_bundle: str | None
    request_timeout_seconds: float
    max_retry_after_seconds: float
    power_bi: PowerBi
    alteryx: Alteryx
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def load(params: dict[str, Any]) -> Publish:
    """Reads ``params:publish``; raises ``PublishConfigError`` naming the key at fault."""
    enabled = params.get("enabled", False)
    if not isinstance(enabled, bool):
        raise PublishConfigError(f"publish.enabled must be true or false, got {enabled!r}")
    pbi, ayx = params.get("power_bi") or {}, params.get("alteryx") or {}
    default_mode = pbi.get("refresh", "enhanced")
    datasets = tuple(
        Dataset(str(_required(d, "name", f"power_bi.datasets[{i}]")), d.get("workspace_id"), d.get("dataset_id"),
                d.get("refresh", default_mode))
        for i, d in enumerate(pbi.get("datasets") or [])
    )
    for d in datasets:
        if d.refresh not in REFRESH_MODES:
            raise PublishConfigError(f"publish.power_bi dataset {d.name!r}: refresh {d.refresh!r} is not one of {REFRESH_MODES}")
    enhanced = dict(pbi.get("enhanced") or {})
    unknown = sorted(set(enhanced) - set(ENHANCED_KEYS))
    if unknown:
        raise PublishConfigError(f"publish.power_bi.enhanced: unknown key(s) {unknown}; the refresh request takes {ENHANCED_KEYS}")
    if not enhanced:
        raise PublishConfigError("publish.power_bi.enhanced is empty: an enhanced refresh needs at least one setting (e.g. type: Full)")
    default_priority = ayx.get("priority", "Default")
    workflows = tuple(
        Workflow(
            str(_required(w, "name", f"alteryx.workflows[{i}]")), w.get("workflow_id"), w.get("priority", default_priority),
            tuple({"name": str(q["name"]), "value": str(q["value"])} for q in (w.get("questions") or [])),
        )
        for i, w in enumerate(ayx.get("workflows") or [])
    )
    for w in workflows:
        if w.priority not in ALTERYX_PRIORITIES:
            raise PublishConfigError(f"publish.alteryx workflow {w.name!r}: priority {w.priority!r} is not one of {ALTERYX_PRIORITIES}")
    config = Publish(
        enabled=enabled,
        ca_bundle=params.get("ca_bundle"),
        request_timeout_seconds=float(params.get("request_timeout_seconds", 30)),
        max_retry_after_seconds=float(params.get("max_retry_after_seconds", 300)),
        power_bi=PowerBi(
            authority_host=str(pbi.get("authority_host", "https://login.microsoftonline.com")).rstrip("/"),
            scope=str(pbi.get("scope", "https://analysis.windows.net/powerbi/api/.default")),
            api_url=str(pbi.get("api_url", "https://api.powerbi.com/v1.0/myorg")).rstrip("/"),
            timeout_seconds=float(pbi.get("timeout_seconds", 3600)),
            poll_seconds=float(pbi.get("poll_seconds", 30)),
            enhanced=enhanced,
            notify_option=str(pbi.get("notify_option", "NoNotification")),
            datasets=datasets,
        ),
        alteryx=Alteryx(
            server_url=(str(ayx["server_url"]).rstrip("/") if ayx.get("server_url") else None),
            timeout_seconds=float(ayx.get("timeout_seconds", 3600)),
            poll_seconds=float(ayx.get("poll_seconds", 15)),
            workflows=workflows,
        ),
        raw=dict(params),
    )
    if enabled:
        _check_targets(config)
    return config


def _check_targets(config: Publish) -> None:
    missing = [f"power_bi.datasets[{d.name}].{key}" for d in config.power_bi.datasets
               for key in ("workspace_id", "dataset_id") if not getattr(d, key)]
    missing += [f"alteryx.workflows[{w.name}].workflow_id" for w in config.alteryx.workflows if not w.workflow_id]
    if config.alteryx.workflows and not config.alteryx.server_url:
        missing.append("alteryx.server_url")
    if missing:
        raise PublishConfigError(
            "publish.enabled is true but these are not set: " + ", ".join(f"publish.{m}" for m in missing)
            + " (conf/<env>/parameters_publish.yml; docs/operations.md, 'Publishing after a good run'). Nothing was published."
        )
    if not config.power_bi.datasets and not config.alteryx.workflows:
        raise PublishConfigError("publish.enabled is true but no Power BI dataset or Alteryx workflow is configured")


def _required(block: dict[str, Any], key: str, where: str) -> Any:
    if not block.get(key):
        raise PublishConfigError(f"publish.{where} lacks {key!r}")
    return block[key]
