"""The ``reporting`` pipeline: REPORTING views over the latest run, then the HTML run report."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.reporting import nodes, views
from retail_control_tower.pipelines.reporting.report import FIGURE_KEYS


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(views.v_champion_model, ["ML_MODEL_REGISTRY", "ML_MODEL_METRICS"], "REPORTING_V_CHAMPION_MODEL", name="v_champion_model"),
            Node(
                views.v_latest_model_metrics,
                ["ML_MODEL_METRICS", "ML_MODEL_REGISTRY"],
                "REPORTING_V_LATEST_MODEL_METRICS",
                name="v_latest_model_metrics",
            ),
            Node(views.v_latest_churn_scores, "ML_CUSTOMER_CHURN_SCORE", "REPORTING_V_LATEST_CHURN_SCORES", name="v_latest_churn_scores"),
            Node(
                views.v_customer_risk,
                ["REPORTING_V_LATEST_CHURN_SCORES", "ML_CUSTOMER_CHURN_SCORE_LEGACY", "GOLD_CUSTOMER_360"],
                "REPORTING_V_CUSTOMER_RISK",
                name="v_customer_risk",
            ),
            Node(views.v_dq_latest, "OPS_DQ_RESULTS", "REPORTING_V_DQ_LATEST", name="v_dq_latest"),
            Node(
                views.v_pipeline_health,
                ["OPS_PIPELINE_RUN_LOG", "MODEL_FCT_ORDER_LINE", "params:dq.freshness", "params:reporting.run_health", "params:event_dates", "run_context"],
                "REPORTING_V_PIPELINE_HEALTH",
                name="v_pipeline_health",
            ),
            Node(views.v_sales_kpis, ["GOLD_SALES_DAILY", "MODEL_FCT_ORDER_LINE"], "REPORTING_V_SALES_KPIS", name="v_sales_kpis"),
            Node(
                nodes.gather_report_data,
                {
                    "champion": "REPORTING_V_CHAMPION_MODEL",
                    "metrics": "REPORTING_V_LATEST_MODEL_METRICS",
                    "dq_latest": "REPORTING_V_DQ_LATEST",
                    "health": "REPORTING_V_PIPELINE_HEALTH",
                    "sales": "REPORTING_V_SALES_KPIS",
                    "deciles": "ML_MODEL_DECILES",
                    "calibration": "ML_MODEL_CALIBRATION",
                    "registry": "ML_MODEL_REGISTRY",
                    "run_log": "OPS_PIPELINE_RUN_LOG",
                    "run_context": "run_context",
                    "report_params": "params:reporting.report",
                    "churn_window_days": "params:features.churn_window_days",
                    "realised": "ML_MODEL_PERFORMANCE_REALISED",
                    "drift": "ML_MODEL_DRIFT",
                    "signal": "ML_RETRAINING_SIGNAL",
                    "drift_params": "params:monitoring.drift",
                },
                "report_data",
                name="gather_report_data",
            ),
            Node(
                nodes.build_report,
                "report_data",
                {"html": "control_tower_report", **{name: f"report_{name}" for name in FIGURE_KEYS}},
                name="build_report",
            ),
        ]
    )
