"""Alteryx workflows (alteryx/*.yxmd) generated from powerbi/spec.yml's column lists, and a
structural check of them that needs no Alteryx."""

from retail_control_tower.alteryx.check import check_file, check_text, contract_columns
from retail_control_tower.alteryx.workflows import ALTERYX_DIR, build

__all__ = ["ALTERYX_DIR", "build", "check_file", "check_text", "contract_columns"]
