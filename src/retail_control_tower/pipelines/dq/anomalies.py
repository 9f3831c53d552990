"""Anomalies in GOLD: a day of a store × category whose sales lie far from that series' usual day.

Silver's bounds stop values no sale can have (a billion units); this check catches what is
possible line by line yet absurd for the business, e.g. 10,000 units of a tea a store sells one
or two of a day. It is a warning: the day may be real (a bulk order), and a person should look.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.pipelines.dq.results import offenders_result
from retail_control_tower.contracts.values import business_key

SERIES = ["STORE_ID", "CATEGORY"]
# Scale factors that make the MAD and the mean absolute deviation estimate the standard deviation
# of normally distributed data (Iglewicz and Hoaglin's modified z-score, and its fallback).
MAD_TO_Z = 0.6745
MEAN_DEVIATION_TO_SD = 1.2533


def robust_z(value: ir.NumericValue, median: ir.NumericValue, mad: ir.NumericValue, mean_deviation: ir.NumericValue) -> ir.FloatingValue:
    """How far ``value`` lies from its series' median, in robust standard deviations.

    The median absolute deviation (MAD) scales it; where more than half the days are alike the MAD
    is 0 and the mean absolute deviation scales it instead; a series with no spread at all has no
    anomaly (0).
    """
    distance = (value - median).abs()
    return ibis.cases(
        (mad > 0, MAD_TO_Z * distance / mad),
        (mean_deviation > 0, distance / (MEAN_DEVIATION_TO_SD * mean_deviation)),
        else_=ibis.literal(0.0),
    )


def check_sales_anomaly(params: dict[str, Any], daily: ir.Table) -> ir.Table:
    """Days of ``GOLD.SALES_DAILY`` (with sales) whose measures lie more than ``max_robust_z`` from
    their store × category's median day; series of fewer than ``min_days`` days are not judged.

    Medians are exact (``MEDIAN`` on Snowflake and DuckDB) over the few million cells of the
    table, not over order lines.
    """
    measures = list(params["measures"])
    sold = daily.filter(daily.ORDER_LINES > 0)
    cells = sold.select("DATE_DAY", *SERIES, **{m: sold[m].cast("float64") for m in measures})
    centre = cells.group_by(SERIES).aggregate(_DAYS=cells.count(), **{f"_MEDIAN_{m}": cells[m].median() for m in measures})
    centre = centre.filter(centre._DAYS >= int(params["min_days"]))
    placed = cells.inner_join(centre, SERIES)
    deviations = placed.mutate(**{f"_DEVIATION_{m}": (placed[m] - placed[f"_MEDIAN_{m}"]).abs() for m in measures})
    spread = deviations.group_by(SERIES).aggregate(
        **{f"_MAD_{m}": deviations[f"_DEVIATION_{m}"].median() for m in measures},
        **{f"_MEAN_DEVIATION_{m}": deviations[f"_DEVIATION_{m}"].mean() for m in measures},
    )
    judged = placed.inner_join(spread, SERIES)
    limit = float(params["max_robust_z"])
    far = [
        robust_z(judged[m], judged[f"_MEDIAN_{m}"], judged[f"_MAD_{m}"], judged[f"_MEAN_DEVIATION_{m}"]) > limit for m in measures
    ]
    return offenders_result(
        judged.filter(ibis.or_(*far)),
        lambda t: business_key([t.DATE_DAY.cast("string"), t.STORE_ID, t.CATEGORY]),
        check="sales_anomaly",
        table="GOLD.SALES_DAILY",
        severity=params["severity"],
        detail=(
            f"days (DATE_DAY|STORE_ID|CATEGORY) whose {' or '.join(measures)} lies more than {limit:g} robust z-scores "
            f"(median / MAD) from their store x category's median day; series of fewer than {params['min_days']} days not judged"
        ),
        sample_size=params["sample_size"],
    )
