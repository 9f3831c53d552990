"""Reconciliation: every row is accounted for from raw file to GOLD (raw = Bronze per file;
Bronze = Silver + quarantine + superseded; Silver order lines and returns = their facts; the
facts' totals = each GOLD table's)."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.pipelines.dq.results import key_text, offenders_result, result_row, table_label
from retail_control_tower.contracts import GOLD_TABLES
from retail_control_tower.contracts.values import cleaned_columns, typed_columns

# A Bronze row is named by its load, file and row number; a loaded file by the first two.
BRONZE_ROW = ["LOAD_ID", "SOURCE_FILE", "SOURCE_ROW"]
BRONZE_FILE = ["LOAD_ID", "SOURCE_FILE"]


def _bronze_files(bronze: ir.Table) -> ir.Table:
    """Bronze rows per loaded file, and whether they are numbered ``FIRST_ROW``..``LAST_ROW``
    with each number once (``NUMBERED``), as the reader numbers them.

    In row-number order, each row of such a file is numbered one more than the row before. The
    files are numbered, and rows put in order by file number and row number: two integers sort
    faster than the file's load and name (text), and a running comparison is cheaper than
    counting distinct row numbers per file.
    """
    files = bronze.group_by(BRONZE_FILE).aggregate(
        BRONZE_ROWS=bronze.count(), FIRST_ROW=bronze.SOURCE_ROW.min(), LAST_ROW=bronze.SOURCE_ROW.max()
    )
    files = files.mutate(_FILE=ibis.row_number().over(order_by=[files[c] for c in BRONZE_FILE]))
    rows = bronze.inner_join(files.select(*BRONZE_FILE, "_FILE"), BRONZE_FILE).select("_FILE", _ROW=bronze.SOURCE_ROW)
    in_order = ibis.window(order_by=[rows._FILE, rows._ROW])
    broken = (rows._FILE.lag().over(in_order) == rows._FILE) & (rows._ROW - rows._ROW.lag().over(in_order) != 1)
    steps = rows.select("_FILE", _BROKEN=broken.fill_null(False))
    per_file = steps.group_by("_FILE").aggregate(_BROKEN=steps._BROKEN.sum())
    files = files.inner_join(per_file, "_FILE")
    numbered = (files._BROKEN == 0) & (files.BRONZE_ROWS == files.LAST_ROW - files.FIRST_ROW + 1)
    return files.select(*BRONZE_FILE, "BRONZE_ROWS", "FIRST_ROW", "LAST_ROW", NUMBERED=numbered)


def _traced(rows: ir.Table, files: ir.Table, bronze: ir.Table) -> ir.Table:
    """``rows`` (with lineage columns) with ``TRACED``: whether the Bronze row they name exists.

    In a file numbered without gaps or repeats that is a range test, which spares joining two
    50M-row tables; a row of any other file is looked up in that file's Bronze rows.
    """
    gappy = files.filter(~files.NUMBERED).select(*BRONZE_FILE)
    irregular = bronze.semi_join(gappy, BRONZE_FILE)
    # Distinct: a row number that repeats in Bronze must still match a row once.
    irregular = irregular.select(**{f"_{c}": irregular[c] for c in BRONZE_ROW}, _FOUND=ibis.literal(True)).distinct()
    ranges = files.select(**{f"_{c}": files[c] for c in BRONZE_FILE}, _FIRST=files.FIRST_ROW, _LAST=files.LAST_ROW, _NUMBERED=files.NUMBERED)
    placed = rows.left_join(ranges, [rows[c] == ranges[f"_{c}"] for c in BRONZE_FILE])
    placed = placed.left_join(irregular, [placed[c] == irregular[f"_{c}"] for c in BRONZE_ROW])
    in_range = placed._NUMBERED.fill_null(False) & placed.SOURCE_ROW.between(placed._FIRST, placed._LAST)
    return placed.select(*rows.columns, TRACED=in_range | placed._FOUND.fill_null(False))


def _unaccounted(bronze: ir.Table, silver: ir.Table, quarantine: ir.Table, spec: dict[str, Any]) -> tuple[ir.Table, ir.Table]:
    """Keys that break Bronze = Silver + quarantine + superseded, and the counts behind it.

    Untraced: a Silver row whose Bronze row does not exist, or is a quarantined row. Lost: a
    valid (not quarantined) Bronze row whose key is not in Silver. A file whose every Bronze row
    is either the Silver row of its key or quarantined is complete, and its rows need no key
    lookup; keys are only looked up for the rows of the other files (older versions were
    superseded, or a row was lost), so a first load costs aggregates, not 50M-row joins.
    """
    key = list(spec["key"])
    files = _bronze_files(bronze)
    # Two tracings of Silver, one with the key for the untraced rows' names and one without for
    # the per-file counts: the engine joins Silver twice rather than keeping a shared intermediate
    # as large as Silver, which it would materialise and scan again.
    silver_traced = _traced(silver.select(*key, *BRONZE_ROW), files, bronze)
    quarantine_traced = _traced(quarantine.select(*BRONZE_ROW), files, bronze).filter(lambda t: t.TRACED)
    untraced = ibis.union(
        silver_traced.filter(~silver_traced.TRACED).select(KEY=key_text(key)(silver_traced)),
        silver.semi_join(quarantine, BRONZE_ROW).select(KEY=key_text(key)(silver)),
    )
    won = _traced(silver.select(*BRONZE_ROW), files, bronze)
    won = won.filter(won.TRACED)
    # Bronze rows per file less the Silver and quarantine rows traced to it: what is left over
    # was superseded or lost. (Two Silver rows cannot share a Bronze row without sharing its key,
    # which duplicate_keys fails; a Silver row on a quarantined row is untraced above.)
    left_over = ibis.union(
        files.select(*BRONZE_FILE, N=files.BRONZE_ROWS),
        won.select(*BRONZE_FILE, N=ibis.literal(-1, type="int64")),
        quarantine_traced.select(*BRONZE_FILE, N=ibis.literal(-1, type="int64")),
    )
    per_file = left_over.group_by(BRONZE_FILE).aggregate(N=left_over.N.sum())
    incomplete = per_file.filter(per_file.N > 0).select(*BRONZE_FILE)
    candidates = bronze.semi_join(incomplete, BRONZE_FILE).anti_join(quarantine, BRONZE_ROW)
    # The keys typed as Silver holds them.
    valid_keys = candidates.select(**typed_columns(candidates.select(**cleaned_columns(candidates, spec, key)), spec)).distinct()
    lost = valid_keys.anti_join(silver, key).select(KEY=key_text(key))
    counts = (
        files.aggregate(BRONZE=files.BRONZE_ROWS.sum().fill_null(0))
        .cross_join(quarantine_traced.aggregate(QUARANTINED=quarantine_traced.count()))
        .cross_join(silver.aggregate(SILVER=silver.count()))
    )
    return ibis.union(lost, untraced), counts


def check_reconciliation(params: dict[str, Any], specs: dict[str, dict], load_log: ir.Table, **tables: ir.Table) -> ir.Table:
    """Nothing lost: raw rows = Bronze rows per file, and Bronze = Silver + quarantine + superseded.

    Every Bronze row is accounted for exactly once: quarantined (with its reason), the current
    Silver version of its key, or an older version of a key whose newer version is in Silver.
    Fails when a valid Bronze key is missing from Silver or a Silver row has no Bronze row.
    """
    latest_run = load_log.RUN_ID.max()
    files = load_log.filter(load_log.RUN_ID == latest_run)
    mismatched = files.filter(files.RAW_ROWS != files.BRONZE_ROWS)
    rows = [
        offenders_result(
            mismatched,
            lambda t: t.SOURCE_FILE,
            check="reconciliation_raw_bronze",
            table="OPS.LOAD_LOG",
            severity=params["severity"],
            detail="raw files whose row count differs from the rows Bronze holds for them",
            sample_size=params["sample_size"],
        )
    ]
    for entity, spec in specs.items():
        name = entity.upper()
        unaccounted, counts = _unaccounted(
            tables[f"BRONZE_{name}"], tables[f"SILVER_{name}"], tables[f"SILVER_{name}_QUARANTINE"], spec
        )
        detail = (
            ibis.literal(f"bronze {name} ")
            .concat(counts.BRONZE.cast("string"), " = silver ", counts.SILVER.cast("string"))
            .concat(" + quarantine ", counts.QUARANTINED.cast("string"))
            .concat(" + superseded ", (counts.BRONZE - counts.SILVER - counts.QUARANTINED).cast("string"))
        )
        result = offenders_result(
            unaccounted,
            lambda t: t.KEY,
            check="reconciliation_bronze_silver",
            table=f"SILVER.{name}",
            severity=params["severity"],
            detail="",
            sample_size=params["sample_size"],
        )
        rows.append(result.cross_join(counts.select(_DETAIL=detail)).mutate(DETAIL=lambda t: t._DETAIL).drop("_DETAIL"))
    return ibis.union(*rows)


# Each Silver table whose every row becomes one row of a MODEL fact, and the fact's grain.
FACTS = [
    ("SILVER_ORDER_ITEMS", "MODEL_FCT_ORDER_LINE", ["ORDER_ID", "LINE_NUMBER"]),
    ("SILVER_RETURNS", "MODEL_FCT_RETURN", ["RETURN_ID"]),
]


def silver_model_inputs() -> list[str]:
    """The tables ``count_silver_model_rows`` counts: each Silver table and the fact it becomes."""
    return sorted({name for flow in FACTS for name in flow[:2]})


def count_silver_model_rows(**tables: ir.Table) -> dict[str, int]:
    """The row count of each Silver table and of the MODEL fact built from it, in one query: the
    profile ``check_silver_model`` takes to decide whether to look for missing keys."""
    return _row_counts(tables)


def check_silver_model(params: dict[str, Any], counts: dict[str, int], **tables: ir.Table) -> ir.Table:
    """Nothing lost between Silver and MODEL: every Silver order line is a row of
    MODEL.FCT_ORDER_LINE and every Silver return a row of MODEL.FCT_RETURN (error, naming the
    missing keys); Silver orders with no order line reach no fact and are counted apart
    (``orders_without_lines``, a warning: e.g. every line of the order was quarantined).

    The rows are counted first (``counts``, from :func:`count_silver_model_rows`): a fact is
    built from its Silver table, so it holds no key Silver lacks, and duplicate_keys fails a fact
    key held twice; a fact with as many rows as its Silver table therefore lost none. Only a fact
    whose count differs is anti-joined to name the missing keys: the anti-join of two large
    tables is what costs, the counts are cheap.
    """
    rows = []
    for silver_name, fact_name, key in FACTS:
        silver, fact = tables[silver_name], tables[fact_name]
        keys = silver.select(*key)
        missing = keys.anti_join(fact, key) if counts[fact_name] != counts[silver_name] else keys.limit(0)
        result = offenders_result(
            missing,
            key_text(key),
            check="reconciliation_silver_model",
            table=table_label(fact_name),
            severity=params["severity"],
            detail="",
            sample_size=params["sample_size"],
        )
        prefix = f"silver {silver_name.removeprefix('SILVER_')} {counts[silver_name]} = {table_label(fact_name)} {counts[fact_name]} + missing "
        rows.append(result.mutate(DETAIL=ibis.literal(prefix).concat(result.OBSERVED.cast("int64").cast("string"))))
    # An anti-join on the order id, without taking the distinct order ids first: the anti-join
    # already reads each order once.
    orders, lines = tables["SILVER_ORDERS"], tables["MODEL_FCT_ORDER_LINE"]
    without_lines = orders.select("ORDER_ID").anti_join(lines, "ORDER_ID")
    rows.append(
        offenders_result(
            without_lines,
            key_text(["ORDER_ID"]),
            check="reconciliation_orders_without_lines",
            table="SILVER.ORDERS",
            severity=params["orders_without_lines"],
            detail="orders with no line in MODEL.FCT_ORDER_LINE (every line quarantined, or none supplied)",
            sample_size=params["sample_size"],
        )
    )
    return ibis.union(*rows)


TOTALS_TOLERANCE = 0.005


def model_gold_inputs() -> list[str]:
    """The datasets ``check_model_gold`` reads: every GOLD table, the facts its totals add up to
    and the dimension it has a row per."""
    names = set(GOLD_TABLES)
    for table in GOLD_TABLES.values():
        names |= {total.fact for total in table.totals} | ({table.one_row_per} if table.one_row_per else set())
    return sorted(names)


def check_model_gold(params: dict[str, Any], **tables: ir.Table) -> ir.Table:
    """Nothing lost or counted twice between MODEL and GOLD: for each GOLD table, every total of
    its contract (``GOLD_TABLES``) equals the MODEL fact's (e.g. units sold per day × store ×
    category add up to the units of every order line) and a table with a row per dimension row
    has as many rows. One result per GOLD table: ``OBSERVED`` is the number of totals that differ,
    ``SAMPLE_KEYS`` names them, ``DETAIL`` shows every figure on both sides.

    A sum over no row is 0; totals agree within half a cent (``TOTALS_TOLERANCE``). Each fact's
    and dimension's figures are one aggregation, shared by every GOLD table's row.
    """
    def figure(total) -> str:
        return f"_{total.fact}_{total.fact_column or 'ROWS'}"

    needed: dict[str, dict[str, ir.Value]] = {}
    for contract in GOLD_TABLES.values():
        for total in contract.totals:
            fact = tables[total.fact]
            needed.setdefault(total.fact, {})[figure(total)] = fact[total.fact_column].sum() if total.fact_column else fact.count()
        if contract.one_row_per:
            needed.setdefault(contract.one_row_per, {})[f"_{contract.one_row_per}_ROWS"] = tables[contract.one_row_per].count()
    model = {name: tables[name].aggregate(**figures) for name, figures in needed.items()}
    rows = []
    for name, contract in GOLD_TABLES.items():
        gold = tables[name]
        combined = gold.aggregate(_GROWS=gold.count(), **{f"_G{i}": gold[total.column].sum() for i, total in enumerate(contract.totals)})
        for source in sorted({total.fact for total in contract.totals} | ({contract.one_row_per} if contract.one_row_per else set())):
            combined = combined.cross_join(model[source])
        sides = []  # (label, GOLD figure, MODEL label, MODEL figure)
        for i, total in enumerate(contract.totals):
            model_label = f"{table_label(total.fact)}.{total.fact_column}" if total.fact_column else f"{table_label(total.fact)} rows"
            sides.append((total.column, combined[f"_G{i}"].fill_null(0), model_label, combined[figure(total)].fill_null(0)))
        if contract.one_row_per:
            sides.append(("rows", combined._GROWS, f"{table_label(contract.one_row_per)} rows", combined[f"_{contract.one_row_per}_ROWS"]))
        # Within half a cent: exact for decimal money and for counts, and blind to the float noise
        # of an engine that sums decimals as floats.
        differs = [(g.cast("float64") - m.cast("float64")).abs() > TOTALS_TOLERANCE for _, g, _, m in sides]
        detail = ibis.literal("")
        for i, (label, gold_figure, model_label, model_figure) in enumerate(sides):
            detail = detail.concat("; " if i else "", f"{label} ", gold_figure.cast("string"), f" = {model_label} ", model_figure.cast("string"))
        # ", A, B" cut after its first separator: plain text functions (no arrays) on every engine
        names = ibis.literal("")
        for d, (label, *_) in zip(differs, sides):
            names = names.concat(ibis.ifelse(d, f", {label}", ""))
        measures = combined.select(
            OBSERVED=sum((d.cast("int64") for d in differs), ibis.literal(0, "int64")),
            DETAIL=detail,
            SAMPLE_KEYS=names.substr(2),
        )
        rows.append(
            result_row(
                measures,
                check="reconciliation_model_gold",
                table=table_label(name),
                severity=params["severity"],
                threshold=0,
                detail=measures.DETAIL,
                sample_keys=ibis.ifelse(measures.OBSERVED > 0, measures.SAMPLE_KEYS, ibis.null("string")),
            )
        )
    return ibis.union(*rows)


def _row_counts(tables: dict[str, ir.Table]) -> dict[str, int]:
    """Row count of each table, in one query."""
    names = list(tables)
    counted = [tables[n].aggregate(**{f"_N{i}": tables[n].count()}) for i, n in enumerate(names)]
    combined = counted[0]
    for table in counted[1:]:
        combined = combined.cross_join(table)
    row = combined.to_pyarrow().to_pylist()[0]
    return {n: int(row[f"_N{i}"]) for i, n in enumerate(names)}
