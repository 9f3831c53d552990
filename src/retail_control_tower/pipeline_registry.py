"""Pipelines registered by name; ``__default__`` is the whole control tower.

The ingest stages are pipelines of their own (``bronze``, ``silver``, ``model``, ``gold``;
``ingest`` is the four), and ``after_bronze`` is everything a change in Bronze calls for:
Silver → MODEL → GOLD → dq → features → scoring → reporting (no training). Both are packages of
``pipelines/`` that sum the others, since ``kedro run --pipelines X`` loads only the package X.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from retail_control_tower.pipelines.publish.pipeline import readiness as publish_readiness
from retail_control_tower.pipelines.scoring.pipeline import champion_check

# Pipelines that make up a normal run, in data-flow order. ``generate`` only writes
# synthetic raw files and is run explicitly (``make run`` does it when data/01_raw is empty).
DEFAULT_PIPELINES = ("ingest", "dq", "features", "train_eval", "scoring", "monitoring", "reporting", "publish")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    # Without a champion, `--pipeline scoring` fails once scoring is done; the default run fails
    # only after the report that says why has been written.
    if "scoring" in pipelines:
        pipelines["scoring"] = pipelines["scoring"] + champion_check()
    # `kedro run --pipeline X` loads only X, so the default is built from what was loaded.
    default = sum((pipelines[name] for name in DEFAULT_PIPELINES if name in pipelines), Pipeline([]))
    if "scoring" in pipelines and "reporting" in pipelines:
        default = (default - champion_check()) + champion_check("control_tower_report")
    # Publishing (off by default) comes last: after this run's scoring outcome and its report.
    if "publish" in pipelines and "scoring" in pipelines and "reporting" in pipelines:
        default = (default - publish_readiness()) + publish_readiness(in_full_run=True)
    pipelines["__default__"] = default
    return pipelines
