"""MODEL's nodes are ``retail_control_tower.pipelines.model.nodes``; this name stays for the
importers outside the ingest stages until they import from there."""

from retail_control_tower.pipelines.model.nodes import dim_customer, dim_date, dim_product, dim_store, fct_order_line, fct_return

__all__ = ["dim_customer", "dim_date", "dim_product", "dim_store", "fct_order_line", "fct_return"]
