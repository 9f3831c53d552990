"""Table contracts: what each warehouse table holds, declared once and read by every stage
(``tables`` says where each part is declared); how Silver reads a raw value (``values``); the
valid event dates (``event_dates``)."""

from retail_control_tower.contracts.tables import (
    ENTITIES,
    GOLD_TABLES,
    MODEL_TABLES,
    ContractError,
    check_entities,
    grain,
    lower_bounds,
    product_bounds,
    silver_table,
)

__all__ = ["ENTITIES", "GOLD_TABLES", "MODEL_TABLES", "ContractError", "check_entities", "grain", "lower_bounds", "product_bounds", "silver_table"]
