"""Power BI as code: a semantic model (TMDL) and a report (PBIR) generated from one spec,
``powerbi/spec.yml``. ``warehouse_columns`` gives other generators the same column lists."""

from retail_control_tower.powerbi.spec import DEFAULT_SPEC, Spec, SpecError, load_spec, warehouse_columns

__all__ = ["DEFAULT_SPEC", "Spec", "SpecError", "load_spec", "warehouse_columns"]
