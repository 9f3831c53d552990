"""A real purchase history run as "bring your own data" (issue 13): a data folder that does not
exist yet, 1990s dates in a minimal input of orders + order items, and nothing lost on the way."""

from __future__ import annotations

from conftest import small_retailer


def test_the_first_run_creates_a_data_folder_that_does_not_exist(workspace, monkeypatch):
    data = workspace.root / "not" / "there" / "yet"
    monkeypatch.setenv("RCT_DATA_DIR", str(data))
    workspace.data = data
    workspace.write_retailer(small_retailer())
    workspace.run("ingest")
    assert workspace.warehouse.is_file()
    assert workspace.count("MODEL.FCT_ORDER_LINE") == 6
