"""Silver rules of a return against the sale it brings back (``sold_line: true`` in the input contract).

- ``RETURN_BEFORE_ORDER``: the return is dated before the day of its order (compared as days, as
  a source may date a return without its time of day).
- ``RETURN_EXCEEDS_SOLD``: with the line's earlier returns, it brings back more units than the line
  sold. The returns a line already has in Silver (earlier loads) count first, then the batch's in
  the order they came back (``RETURN_TS``, then ``RETURN_ID``); once the running total passes the
  units sold, that return and every later one of the line are quarantined.

Either used to fail ``value_ranges`` at severity error and stop features, training and scoring for
the whole business; now the row is quarantined and DQ counts it (quarantine rate, reconciliation).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

# The sale a return brings back: the order line's units sold (carried by the order_items
# reference) and the order's day (joined from Silver orders).
SOLD = "QUANTITY"
LINE = ["_RETURNED_ORDER_ID", "_RETURNED_LINE_NUMBER"]
LINEAGE = ["LOAD_ID", "SOURCE_FILE", "SOURCE_ROW"]  # names a batch row


def mark_order_day(cleaned: ir.Table, typed: dict[str, ir.Value], orders: ir.Table) -> ir.Table:
    """``cleaned`` with ``_ORDER_DAY``: the day of the return's order (null when it is not in Silver).
    Orders are unique by ``ORDER_ID`` in Silver, so the left join keeps one row per return."""
    days = orders.select(_SALE_ORDER_ID=orders.ORDER_ID, _ORDER_DAY=orders.ORDER_TS.date())
    joined = cleaned.left_join(days, typed["ORDER_ID"] == days._SALE_ORDER_ID)
    return joined.select(*cleaned.columns, "_ORDER_DAY")


def before_order_rule(table: ir.Table, typed: dict[str, ir.Value]) -> tuple[ir.BooleanValue, str, ir.StringValue]:
    """(condition, reason code, detail) of a return dated before the day of its order."""
    return (
        typed["RETURN_TS"].date() < table._ORDER_DAY,
        "RETURN_BEFORE_ORDER",
        ibis.literal("RETURN_TS='").concat(table.RETURN_TS, "' is before the day of its order (", table._ORDER_DAY.cast("string"), ")"),
    )


def counted_columns(table: ir.Table, typed: dict[str, ir.Value], sold: ir.Value) -> dict[str, ir.Value]:
    """What the running total needs of each row: its line, units, time and the units sold."""
    return {
        LINE[0]: typed["ORDER_ID"],
        LINE[1]: typed["LINE_NUMBER"],
        "_UNITS": typed["QUANTITY"],
        "_RETURNED_AT": typed["RETURN_TS"],
        "_SOLD": sold,
    }


def exceeding_sold(rows: ir.Table, prior_returns: ir.Table | None, several_loads: bool) -> ir.Table:
    """``rows`` (a batch of returns with ``REASON_CODE``, see ``counted_columns``) with the returns
    that take their line past the units sold quarantined as ``RETURN_EXCEEDS_SOLD``.

    A row counts when no other rule quarantined it and, of several loads in the batch, it is the
    newest version of its return (the one Silver applies). A Silver return re-sent in the batch
    counts in its new version only. (Should that new version be quarantined, the old one stays in
    Silver uncounted here; DQ's ``value_ranges`` checks the line's total in MODEL all the same.)

    The running total is only ordered for the lines whose returns, all counted, pass the units
    sold: the others (nearly all) need a sum per line, not a sort of every return.
    """
    counts = rows.REASON_CODE.isnull()
    if several_loads:
        newest = ibis.window(
            group_by=[rows.BUSINESS_KEY, counts], order_by=[rows.LOAD_ID.desc(), rows.SOURCE_FILE.desc(), rows.SOURCE_ROW.desc()]
        )
        counts = counts & (ibis.row_number().over(newest) == 0)
    rows = rows.mutate(_COUNTS=counts)
    counted = rows.filter(rows._COUNTS)
    totals = counted.group_by(LINE).aggregate(_ALL_UNITS=counted._UNITS.sum(), _SOLD_UNITS=counted._SOLD.max())
    if prior_returns is None:
        totals = totals.mutate(_PRIOR=ibis.literal(0, type="int64"))
    else:
        prior = _prior_per_line(counted, prior_returns)
        totals = totals.left_join(prior, LINE).select(*totals.columns, _PRIOR=lambda t: t._PRIOR.fill_null(0))
    over = totals.filter(totals._PRIOR + totals._ALL_UNITS > totals._SOLD_UNITS).select(*LINE, "_PRIOR")
    suspects = counted.inner_join(over, LINE)
    in_order = ibis.cumulative_window(group_by=[suspects[c] for c in LINE], order_by=[suspects._RETURNED_AT, suspects.BUSINESS_KEY])
    running = suspects.mutate(_RUNNING=suspects._PRIOR + suspects._UNITS.sum().over(in_order))
    exceeding = running.filter(running._RUNNING > running._SOLD).select(
        **{f"_X_{c}": running[c] for c in LINEAGE}, _RETURNED_UNITS=running._RUNNING
    )
    marked = rows.left_join(exceeding, [rows[c] == exceeding[f"_X_{c}"] for c in LINEAGE])
    marked = marked.select(*rows.columns, "_RETURNED_UNITS")
    exceeds = marked._RETURNED_UNITS.notnull()
    line = ibis.literal("|").join([marked[LINE[0]], marked[LINE[1]].cast("string")])
    detail = ibis.literal("QUANTITY=").concat(
        marked.QUANTITY, " brings the units returned of ", line, " to ", marked._RETURNED_UNITS.cast("string"),
        ", above the ", marked._SOLD.cast("string"), " sold",
    )
    return marked.mutate(
        REASON_CODE=ibis.ifelse(exceeds, "RETURN_EXCEEDS_SOLD", marked.REASON_CODE),
        REASON_DETAIL=ibis.ifelse(exceeds, detail, marked.REASON_DETAIL),
    ).drop("_COUNTS", "_RETURNED_UNITS")


def _prior_per_line(counted: ir.Table, prior_returns: ir.Table) -> ir.Table:
    """Units of each line's returns already in Silver, but for those the batch sends again."""
    resent = counted.select(_RESENT_ID=counted.BUSINESS_KEY)
    kept = prior_returns.anti_join(resent, prior_returns.RETURN_ID == resent._RESENT_ID)
    return kept.group_by(**{LINE[0]: kept.ORDER_ID, LINE[1]: kept.LINE_NUMBER}).aggregate(_PRIOR=kept.QUANTITY.sum())
