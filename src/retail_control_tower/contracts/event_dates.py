"""The valid range of event dates and the time the data is judged at: one setting, ``event_dates``
(parameters_ingest.yml), read by Silver's validation and by DQ's value ranges and freshness alike,
so a historical data set is opened with one override (``--params event_dates.min=1997-01-01``).

Times are the business's local wall-clock times: of ``event_dates.time_zone`` when it is set (a
time sent with a UTC offset is converted to it, see ``values.typed_timestamp``), else of whatever
zone the files and the machine running the pipeline share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class EventDateRange:
    earliest: date  # event dates before this day are out of range
    reference: datetime  # the time the data is judged at: configured, or the run's start
    max_future_days: int

    @property
    def latest(self) -> datetime:
        """Event times after this are in the future of the data set."""
        return self.reference + timedelta(days=self.max_future_days)


def event_date_range(event_dates: dict[str, Any], run_context: dict[str, Any]) -> EventDateRange:
    """The range an ``event_dates`` block sets, for the run in ``run_context``."""
    missing = [key for key in ("min", "max_future_days") if event_dates.get(key) is None]
    if missing:
        raise ValueError(
            f"event_dates lacks {' and '.join(missing)}: a section in conf/<env>/parameters*.yml replaces conf/base's "
            "whole, so give every key of the block there (min, max_future_days, reference_time, time_zone)."
        )
    zone = _zone(event_dates.get("time_zone"))
    configured = event_dates.get("reference_time")
    # A value given on the command line may arrive as text or, from YAML, as a date/datetime.
    reference = datetime.fromisoformat(str(configured)) if configured else run_context["started_at"]
    if zone and (reference.tzinfo or not configured):
        # The run's start is the machine's local time: judge the data at the same instant in the
        # business's zone. A configured time with an offset is converted the same way.
        reference = reference.astimezone(zone).replace(tzinfo=None)
    elif reference.tzinfo:
        raise ValueError(
            f"event_dates.reference_time {configured} has a UTC offset but event_dates.time_zone is not set: "
            "give the local time without an offset, or set the time zone"
        )
    return EventDateRange(
        earliest=date.fromisoformat(str(event_dates["min"])[:10]),
        reference=reference,
        max_future_days=int(event_dates["max_future_days"]),
    )


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"event_dates.time_zone {name!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)") from error
