"""The contract of every warehouse table the ingest stages build, and where each part of it is declared.

- SILVER (one table per input entity): ``ingest.entities.<entity>`` in
  ``conf/base/parameters_ingest.yml`` declares its columns with their types and rules, its
  references, whether the entity is required, and (for returns) the checks against the sold
  line; its business key is ``business_keys.<ENTITY>`` in ``conf/base/globals.yml``, the one
  file the catalog can read too (Silver is upserted on it), which the entity refers to. From that
  declaration come Silver's typing and quarantine rules, DQ's key checks and reconciliation, the
  upsert keys, the Snowflake landing's column lists (``datasets.snowflake_landing``) and, with
  ``ENTITIES`` below, the wiring of the Silver nodes.
- MODEL: ``MODEL_TABLES`` below, the grain of each table, the foreign keys of the facts and the
  Silver columns whose lower bounds a fact is checked against again, from which DQ's
  ``duplicate_keys``, ``not_null_keys``, ``orphan_keys`` and ``value_ranges`` are built (the bounds
  themselves are the Silver contract's).
- GOLD: ``GOLD_TABLES`` below, the grain of each business table, the dimension it has one row per
  (if any) and the totals that must add up to the MODEL facts it aggregates, from which DQ's
  ``duplicate_keys``, ``not_null_keys`` and ``reconciliation_model_gold`` are built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retail_control_tower.contracts.values import ENGINE_TYPES

# The input entities, in load order: an entity may reference only those before it, so each
# Silver node is wired to the Silver and Bronze tables of the entities before its own.
ENTITIES = ("customers", "products", "stores", "orders", "order_items", "returns")


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str  # dataset name of the referenced table
    table_columns: tuple[str, ...]


@dataclass(frozen=True)
class ModelTable:
    grain: tuple[str, ...]  # unique and never null
    references: tuple[ForeignKey, ...] = field(default_factory=tuple)
    # (entity, column): a column the table carries from that entity's Silver table whose lower
    # bound (``min`` / ``min_exclusive``) and ``max_product_of`` rule in the entity's contract DQ
    # checks again in this table.
    rechecked: tuple[tuple[str, str], ...] = field(default_factory=tuple)


MODEL_TABLES: dict[str, ModelTable] = {
    "MODEL_DIM_CUSTOMER": ModelTable(("CUSTOMER_ID",)),
    "MODEL_DIM_PRODUCT": ModelTable(("PRODUCT_ID",)),
    "MODEL_DIM_STORE": ModelTable(("STORE_ID",)),
    "MODEL_DIM_DATE": ModelTable(("DATE_DAY",)),
    "MODEL_FCT_ORDER_LINE": ModelTable(
        ("ORDER_ID", "LINE_NUMBER"),
        (
            ForeignKey(("CUSTOMER_ID",), "MODEL_DIM_CUSTOMER", ("CUSTOMER_ID",)),
            ForeignKey(("PRODUCT_ID",), "MODEL_DIM_PRODUCT", ("PRODUCT_ID",)),
            ForeignKey(("STORE_ID",), "MODEL_DIM_STORE", ("STORE_ID",)),
            ForeignKey(("ORDER_DATE",), "MODEL_DIM_DATE", ("DATE_DAY",)),
        ),
        rechecked=(("order_items", "QUANTITY"), ("order_items", "UNIT_PRICE"), ("order_items", "DISCOUNT_AMOUNT")),
    ),
    "MODEL_FCT_RETURN": ModelTable(
        ("RETURN_ID",),
        (
            ForeignKey(("ORDER_ID", "LINE_NUMBER"), "MODEL_FCT_ORDER_LINE", ("ORDER_ID", "LINE_NUMBER")),
            ForeignKey(("CUSTOMER_ID",), "MODEL_DIM_CUSTOMER", ("CUSTOMER_ID",)),
        ),
    ),
}


@dataclass(frozen=True)
class Total:
    """A GOLD column whose sum over the table equals the sum of a MODEL fact's column (or the
    fact's row count when ``fact_column`` is None): nothing sold or returned left out or counted twice."""

    column: str
    fact: str  # dataset name of the MODEL fact
    fact_column: str | None = None


@dataclass(frozen=True)
class GoldTable:
    grain: tuple[str, ...]  # unique and never null
    totals: tuple[Total, ...]
    one_row_per: str | None = None  # a MODEL dimension: exactly one row per row of it


_LINES, _RETURNS = "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN"

GOLD_TABLES: dict[str, GoldTable] = {
    "GOLD_SALES_DAILY": GoldTable(
        ("DATE_DAY", "STORE_ID", "CATEGORY"),
        (
            Total("ORDER_LINES", _LINES),
            Total("UNITS", _LINES, "QUANTITY"),
            Total("GROSS_AMOUNT", _LINES, "GROSS_AMOUNT"),
            Total("DISCOUNT_AMOUNT", _LINES, "DISCOUNT_AMOUNT"),
            Total("NET_AMOUNT", _LINES, "NET_AMOUNT"),
            Total("RETURNED_UNITS", _RETURNS, "QUANTITY"),
            Total("REFUND_AMOUNT", _RETURNS, "REFUND_AMOUNT"),
        ),
    ),
    "GOLD_CUSTOMER_360": GoldTable(
        ("CUSTOMER_ID",),
        (
            Total("ORDER_LINES", _LINES),
            Total("UNITS", _LINES, "QUANTITY"),
            Total("NET_AMOUNT", _LINES, "NET_AMOUNT"),
            Total("RETURNS", _RETURNS),
            Total("REFUND_AMOUNT", _RETURNS, "REFUND_AMOUNT"),
        ),
        one_row_per="MODEL_DIM_CUSTOMER",
    ),
    "GOLD_PRODUCT_PERFORMANCE": GoldTable(
        ("PRODUCT_ID",),
        (
            Total("UNITS", _LINES, "QUANTITY"),
            Total("NET_AMOUNT", _LINES, "NET_AMOUNT"),
            Total("DISCOUNT_AMOUNT", _LINES, "DISCOUNT_AMOUNT"),
            Total("RETURNED_UNITS", _RETURNS, "QUANTITY"),
            Total("REFUND_AMOUNT", _RETURNS, "REFUND_AMOUNT"),
        ),
        one_row_per="MODEL_DIM_PRODUCT",
    ),
    "GOLD_STORE_PERFORMANCE": GoldTable(
        ("STORE_ID",),
        (
            Total("NET_AMOUNT", _LINES, "NET_AMOUNT"),
            Total("RETURNS", _RETURNS),
            Total("REFUND_AMOUNT", _RETURNS, "REFUND_AMOUNT"),
        ),
        one_row_per="MODEL_DIM_STORE",
    ),
}


def silver_table(entity: str) -> str:
    return f"SILVER_{entity.upper()}"


def grain(entities: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """The grain of every Silver, MODEL and GOLD table, by dataset name."""
    return {
        **{name: list(table.grain) for name, table in {**MODEL_TABLES, **GOLD_TABLES}.items()},
        **{silver_table(entity): list(spec["key"]) for entity, spec in entities.items()},
    }


def lower_bounds(table: str, entities: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, Any]]:
    """(column, ``min`` or ``min_exclusive``, value) of each column ``table`` rechecks, as the
    Silver contract of the entity it comes from sets it."""
    bounds = []
    for entity, name in MODEL_TABLES[table].rechecked:
        column = entities.get(entity, {}).get("columns", {}).get(name, {})
        bounds += [(name, bound, column[bound]) for bound in ("min", "min_exclusive") if column.get(bound) is not None]
    return bounds


def product_bounds(table: str, entities: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """(column, factors) of each column ``table`` rechecks whose contract caps it at the product
    of other columns of its row (``max_product_of``, e.g. a discount at most units x unit price)."""
    bounds = []
    for entity, name in MODEL_TABLES[table].rechecked:
        factors = entities.get(entity, {}).get("columns", {}).get(name, {}).get("max_product_of")
        if factors:
            bounds.append((name, list(factors)))
    return bounds


class ContractError(ValueError):
    """The input contract (``ingest.entities``) contradicts itself or the pipeline's entities."""


def check_entities(entities: Mapping[str, Mapping[str, Any]]) -> None:
    """Raises naming every contradiction: an unknown entity or type, a key or referenced column
    that is not a column, a reference to an entity that is not loaded before this one."""
    problems = []
    unknown = [name for name in entities if name not in ENTITIES]
    if unknown:
        problems.append(f"entities {unknown} are not among the pipeline's {list(ENTITIES)}")
    for entity, spec in entities.items():
        columns = spec.get("columns") or {}
        for name, column in columns.items():
            if column.get("type") not in ENGINE_TYPES:
                problems.append(f"{entity}.{name}: type {column.get('type')!r} is not one of {sorted(ENGINE_TYPES)}")
        for name, column in columns.items():
            factors = column.get("max_product_of") or []
            if any(columns.get(f, {}).get("type") not in ("int", "decimal") for f in factors):
                problems.append(f"{entity}.{name}: max_product_of {factors} must name numeric columns of {entity}")
        missing_key = [c for c in spec.get("key") or [] if c not in columns]
        if not spec.get("key") or missing_key:
            problems.append(f"{entity}: key {spec.get('key')} must name its columns")
        for reference in spec.get("references", []):
            target = reference.get("entity")
            if target not in ENTITIES or entity not in ENTITIES or ENTITIES.index(target) >= ENTITIES.index(entity):
                problems.append(f"{entity}: a reference to {target!r} must name an entity loaded before it ({list(ENTITIES)})")
            elif any(c not in columns for c in reference.get("columns", [])):
                problems.append(f"{entity}: referenced columns {reference.get('columns')} must be its columns")
    if problems:
        raise ContractError("Input contract (ingest.entities in parameters_ingest.yml): " + "; ".join(problems))
