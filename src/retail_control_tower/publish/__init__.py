"""Publishing after a good run: Power BI dataset refreshes and Alteryx Server workflows through
their REST APIs, each outcome recorded in OPS.PUBLISH_LOG (the ``publish`` pipeline)."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class PublishCredentialsDataset(AbstractDataset[None, dict]):
    """A block of ``credentials.yml`` handed to a publish node, e.g. the Power BI service principal.

    ``conf/base/credentials.yml`` maps each key to an environment variable; a block of the same
    name in ``conf/local/credentials.yml`` replaces it. Values never appear in logs or kedro-viz:
    only which keys are set.
    """

    def __init__(self, credentials: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._credentials = dict(credentials or {})
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return dict(self._credentials)

    def save(self, data: None) -> None:
        raise DatasetError("Publish credentials are read from credentials.yml or the environment, never written")

    def _describe(self) -> dict[str, Any]:
        return {"keys_set": sorted(key for key, value in self._credentials.items() if value)}

    def __repr__(self) -> str:
        return f"PublishCredentialsDataset(keys_set={self._describe()['keys_set']})"
