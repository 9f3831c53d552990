"""The ``after_bronze`` pipeline: all a change in Bronze calls for, without training.

Silver → MODEL → GOLD → dq → features → scoring → monitoring → reporting, for Bronze loaded by other means
(``COPY INTO`` on Snowflake, sql/snowflake/03_raw_landing.sql) or a run stopped half-way through
Silver. A pipeline of its own, so ``kedro run --pipelines after_bronze`` loads just what it needs.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from retail_control_tower.pipelines import dq, features, gold, model, monitoring, reporting, scoring, silver
from retail_control_tower.pipelines.scoring.pipeline import champion_check

STAGES = (silver, model, gold, dq, features, scoring, monitoring, reporting)


def create_pipeline(**kwargs) -> Pipeline:
    # Without a champion the run fails only after the report that says why has been written.
    return sum((stage.create_pipeline() for stage in STAGES), Pipeline([])) + champion_check("control_tower_report")
