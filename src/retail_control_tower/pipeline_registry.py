"""Pipelines registered by name; ``__default__`` is the whole control tower."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Pipelines that make up a normal run, in data-flow order. ``generate`` only writes
# synthetic raw files and is run explicitly (``make run`` does it when data/01_raw is empty).
DEFAULT_PIPELINES = ("ingest", "dq", "features", "train_eval", "scoring", "reporting")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    # `kedro run --pipeline X` loads only X, so the default is built from what was loaded.
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_PIPELINES if name in pipelines), Pipeline([])
    )
    return pipelines
