"""The one Silver node that queries: what each entity's unapplied Bronze batch holds, in one small
query for all entities, handed to the Silver nodes so each of them is a pure expression of its inputs.

Per entity (``profile_batches``):

- ``keys_repeat``: whether a business key occurs more than once among the rows to validate.
  Ordering rows by key is the costly part of validating a batch (a window that sorts every row
  with its values); it is only needed when a key repeats.
- ``several_loads``: whether the rows to validate come from more than one load (a return's units
  are then counted in its newest version only).
- ``loads_to_apply``: 0, 1, or 2 for more than one load, among the rows newer than Silver's
  newest; with several, the newest load of a key wins.
- ``supplied``: per entity, whether its Bronze table has rows; an optional entity's keys are
  checked only when it was supplied (a file whose every row was quarantined still was).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.contracts.values import business_key, cleaned_columns


def unapplied(bronze: ir.Table, *prior_tables: ir.Table | None) -> ir.BooleanValue:
    """Whether a Bronze row's load is newer than the newest load already applied (Silver or quarantine)."""
    applied = [t.select("LOAD_ID") for t in prior_tables if t is not None]
    if not applied:
        return ibis.literal(True)
    return bronze.LOAD_ID > ibis.union(*applied).LOAD_ID.max().fill_null("").as_scalar()


def _facts(entity: str, spec: dict[str, Any], bronze: ir.Table, prior_silver: ir.Table | None, prior_quarantine: ir.Table | None) -> ir.Table:
    # The rows to apply (newer than Silver's newest load) hold the rows to validate (newer than
    # the quarantine's too): only they are read, not the loads applied before.
    batch = bronze.filter(unapplied(bronze, prior_silver)) if prior_silver is not None else bronze
    to_check = unapplied(batch, prior_quarantine)
    key = business_key(list(cleaned_columns(batch, spec, spec["key"]).values()))
    # Distinct 64-bit hashes of the keys, not the keys: counting integers is cheaper than counting
    # text, and two keys sharing a hash only make the answer "yes" (the ordered path, which is
    # always correct), never "no" for a batch that does repeat a key.
    facts = batch.aggregate(
        ENTITY=ibis.literal(entity),
        KEYED_ROWS=key.count(where=to_check),
        KEYS=key.hash().nunique(where=to_check & key.notnull()),
        CHECK_FIRST=batch.LOAD_ID.min(where=to_check),
        CHECK_LAST=batch.LOAD_ID.max(where=to_check),
        APPLY_ROWS=batch.count(),
        APPLY_FIRST=batch.LOAD_ID.min(),
        APPLY_LAST=batch.LOAD_ID.max(),
    )
    return facts.cross_join(bronze.limit(1).aggregate(BRONZE_ROWS=lambda t: t.count()))


def profile_batches(entities: dict[str, dict], **tables: ir.Table | None) -> dict[str, dict[str, Any]]:
    """Per entity of the contract, the facts above; ``tables`` holds ``BRONZE_<ENTITY>``,
    ``prior_SILVER_<ENTITY>`` and ``prior_SILVER_<ENTITY>_QUARANTINE`` of every entity."""
    parts = [
        _facts(entity, spec, tables[f"BRONZE_{entity.upper()}"], tables[f"prior_SILVER_{entity.upper()}"],
               tables[f"prior_SILVER_{entity.upper()}_QUARANTINE"])
        for entity, spec in entities.items()
    ]
    rows = {row["ENTITY"]: row for row in ibis.union(*parts).to_pyarrow().to_pylist()}
    supplied = {entity: bool(rows[entity]["BRONZE_ROWS"]) for entity in entities}
    return {
        entity: {
            "keys_repeat": rows[entity]["KEYED_ROWS"] > rows[entity]["KEYS"],
            "several_loads": rows[entity]["CHECK_FIRST"] != rows[entity]["CHECK_LAST"],
            "loads_to_apply": _loads(rows[entity]),
            "supplied": supplied,
        }
        for entity in entities
    }


def _loads(row: dict[str, Any]) -> int:
    if not row["APPLY_ROWS"]:
        return 0
    return 1 if row["APPLY_FIRST"] == row["APPLY_LAST"] else 2
