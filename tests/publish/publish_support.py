"""Fixtures and settings shared by the publish tests (imported by the test modules: a
tests/publish/conftest.py would replace the root ``conftest`` module that other tests import
names from)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from publish_fakes import AlteryxServer, Entra, PowerBi, make_certificates

TENANT = "00000000-0000-0000-0000-0000000000aa"
WORKSPACE = "11111111-2222-3333-4444-555555555555"
DATASET = "66666666-7777-8888-9999-000000000000"
POWERBI_CREDENTIALS = {"tenant_id": TENANT, "client_id": "app-0001", "client_secret": "s3cret-value"}
ALTERYX_CREDENTIALS = {"api_key": "ayx-key", "api_secret": "ayx-s3cret"}
CHURN_WORKFLOW, KPI_WORKFLOW = "64f1c0ffee0000000000c0de", "64f1c0ffee0000000000beef"


@dataclass
class Services:
    ca_bundle: Path
    entra: Entra
    power_bi: PowerBi
    alteryx: AlteryxServer

    def params(self, **overrides: Any) -> dict[str, Any]:
        """The ``publish`` parameter block pointing at these fakes, fast polls and short timeouts."""
        block = {
            "enabled": True,
            "ca_bundle": str(self.ca_bundle),
            "request_timeout_seconds": 5,
            "max_retry_after_seconds": 5,
            "power_bi": {
                "authority_host": self.entra.url,
                "api_url": f"{self.power_bi.url}/v1.0/myorg",
                "timeout_seconds": 5,
                "poll_seconds": 0.05,
                "refresh": "enhanced",
                "enhanced": {"type": "Full", "commitMode": "Transactional", "maxParallelism": 2, "retryCount": 1},
                "notify_option": "NoNotification",
                "datasets": [{"name": "RetailControlTower", "workspace_id": WORKSPACE, "dataset_id": DATASET}],
            },
            "alteryx": {
                "server_url": self.alteryx.url,
                "timeout_seconds": 5,
                "poll_seconds": 0.05,
                "priority": "Default",
                "workflows": [
                    {"name": "churn_campaign_list", "workflow_id": CHURN_WORKFLOW, "questions": []},
                    {"name": "daily_kpi_extract", "workflow_id": KPI_WORKFLOW, "questions": [{"name": "Days", "value": "7"}]},
                ],
            },
        }
        for key, value in overrides.items():
            section, _, name = key.partition("__")
            if name:
                block[section] = {**block[section], name: value}
            else:
                block[key] = value
        return block


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def services(certificates: tuple[Path, Path, Path]) -> Iterator[Services]:
    yield from _services(certificates)


def _services(certificates: tuple[Path, Path, Path]) -> Iterator[Services]:
    entra = Entra(certificates, TENANT, POWERBI_CREDENTIALS["client_id"], POWERBI_CREDENTIALS["client_secret"])
    power_bi = PowerBi(certificates, entra.issued)
    power_bi.behaviour[DATASET] = "complete"
    alteryx = AlteryxServer(certificates, **ALTERYX_CREDENTIALS)
    alteryx.workflows.update({CHURN_WORKFLOW: ("Completed", "Success"), KPI_WORKFLOW: ("Completed", "Success")})
    try:
        yield Services(certificates[0], entra, power_bi, alteryx)
    finally:
        for server in (entra, power_bi, alteryx):
            server.stop()


def closed_port_url() -> tuple[socket.socket, str]:
    """A bound, non-listening port on 127.0.0.1 (connections are refused); keep the socket open while used."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"https://127.0.0.1:{sock.getsockname()[1]}"
