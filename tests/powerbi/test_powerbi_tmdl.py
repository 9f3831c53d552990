"""The semantic model is read by Microsoft's own TMDL parser (TmdlSerializer, on Mono), and
written back by it unchanged: the generated TMDL is in its canonical form."""

from __future__ import annotations

import shutil

import pytest
from powerbi_support import POWERBI, definition, first_lines, read_model

from retail_control_tower.powerbi import load_spec


@pytest.fixture(scope="module")
def model_and_roundtrip(tmp_path_factory):
    out = tmp_path_factory.mktemp("tmdl") / "serialized"
    return read_model(definition(POWERBI), serialize_into=out), out


def test_microsofts_parser_reads_the_model(model_and_roundtrip):
    result, _ = model_and_roundtrip
    assert result["ok"], first_lines(result.get("error", ""))
    model, spec = result["model"], load_spec()
    assert model["compatibilityLevel"] >= 1600
    assert [t["name"] for t in model["tables"]] == [t.name for t in spec.tables]
    assert len(model["relationships"]) == len(spec.relationships)
    date = next(t for t in model["tables"] if t["name"] == "DIM_DATE")
    assert date["dataCategory"] == "Time"  # marked as the date table (time intelligence)
    assert {e["name"] for e in model["expressions"]} == {
        "WarehouseSource", "SnowflakeServer", "SnowflakeWarehouse", "SnowflakeDatabase", "SnowflakeRole", "DuckDbFile"
    }
    assert all(p["kind"] == "M" for t in model["tables"] for p in t["partitions"])


def test_the_parser_writes_the_model_back_unchanged(model_and_roundtrip):
    _, out = model_and_roundtrip
    ours = {p.relative_to(definition(POWERBI)).as_posix(): p.read_text(encoding="utf-8") for p in definition(POWERBI).rglob("*.tmdl")}
    theirs = {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8-sig") for p in out.rglob("*.tmdl")}
    assert sorted(theirs) == sorted(ours)
    assert [path for path in ours if ours[path] != theirs[path]] == []


# (file, text, replacement, what the parser says)
BREAKS = {
    "a misspelt keyword": ("tables/DIM_DATE.tmdl", "\tcolumn DATE_KEY", "\tcolum DATE_KEY", "colum is not a supported"),
    "an unknown property": ("tables/DIM_DATE.tmdl", "\t\tsummarizeBy: none\n", "\t\tsummarizeBy: none\n\t\tcolour: red\n", "colour"),
    "a bad enum value": ("tables/DIM_DATE.tmdl", "dataType: int64", "dataType: integer", "integer"),
    "bad indentation": ("tables/DIM_DATE.tmdl", "\t\tdataType: int64", "   dataType: int64", "indentation"),
    "a relationship to a missing column": ("relationships.tmdl", "toColumn: DIM_DATE.DATE_DAY", "toColumn: DIM_DATE.DATE_DAYS", "ToColumn"),
}


def test_microsofts_parser_rejects_broken_copies(tmp_path):
    """One copy per break, all read in one Mono process each (about a second apiece)."""
    for case, (file, text, replacement, said) in BREAKS.items():
        copy = shutil.copytree(definition(POWERBI), tmp_path / case.replace(" ", "_"))
        source = (copy / file).read_text(encoding="utf-8")
        assert text in source, case
        (copy / file).write_text(source.replace(text, replacement, 1), encoding="utf-8")
        result = read_model(copy)
        assert not result["ok"], f"{case}: the parser accepted it"
        assert said.lower() in result["error"].lower(), f"{case}: {first_lines(result['error'])}"
