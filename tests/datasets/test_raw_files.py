"""The raw file dataset: discovery of batch files, text columns, lineage and content fingerprints."""

from __future__ import annotations

import ibis
import pytest
from conftest import small_retailer
from kedro.io import DatasetError

from retail_control_tower.datasets import RawFileManifestDataset, RawFilesDataset, raw_files


def _dataset(directory, entity="stores", required=False):
    return RawFilesDataset(directory=str(directory), entity=entity, required=required, connection={"backend": "duckdb", "database": ":memory:"})


def test_batches_are_read_as_text_with_lineage_and_byte_fingerprints(tmp_path):
    (tmp_path / "stores.csv").write_text("store_id,Region\nS1, north\nS2,south\n")
    (tmp_path / "stores_resent.csv").write_text("store_id,Region\nS1, north\nS2,south\n")
    (tmp_path / "stores").mkdir()
    (tmp_path / "stores" / "2026-11-27.csv").write_text("store_id,Region\n007,east\n")
    (tmp_path / "storesx.csv").write_text("not,this\n1,2\n")  # another entity's name: not picked up
    table = _dataset(tmp_path).load()
    rows = table.order_by(["SOURCE_FILE", "SOURCE_ROW"]).to_pyarrow().to_pylist()
    assert [(r["STORE_ID"], r["REGION"], r["SOURCE_FILE"], r["SOURCE_ROW"], r["DUPLICATE_OF"]) for r in rows] == [
        ("S1", " north", "stores.csv", 1, None),
        ("S2", "south", "stores.csv", 2, None),
        ("007", "east", "stores/2026-11-27.csv", 1, None),
        ("S1", " north", "stores_resent.csv", 1, "stores.csv"),
        ("S2", "south", "stores_resent.csv", 2, "stores.csv"),
    ]
    fingerprints = {r["SOURCE_FILE"]: r["FILE_FINGERPRINT"] for r in rows}
    assert fingerprints["stores.csv"] == fingerprints["stores_resent.csv"] != fingerprints["stores/2026-11-27.csv"]
    assert len(fingerprints["stores.csv"]) == 64


def test_an_optional_entity_without_files_is_none_and_a_required_one_is_an_error(tmp_path):
    assert _dataset(tmp_path).load() is None
    with pytest.raises(DatasetError, match=r"Required input 'orders' not found"):
        _dataset(tmp_path, "orders", required=True).load()


def test_files_of_one_entity_must_share_a_header(tmp_path):
    (tmp_path / "stores.csv").write_text("store_id,region\nS1,north\n")
    (tmp_path / "stores_2.csv").write_text("store_id,area\nS2,south\n")
    with pytest.raises(DatasetError, match=r"stores_2\.csv: columns \['AREA', 'STORE_ID'\] differ"):
        _dataset(tmp_path).load()


def test_the_dataset_is_read_only(tmp_path):
    with pytest.raises(DatasetError, match="read-only"):
        _dataset(tmp_path).save(ibis.memtable({"a": [1]}))


def test_rows_are_numbered_across_parse_blocks_and_a_late_bad_byte_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(raw_files, "CSV_BLOCK_BYTES", 64)  # many blocks for a small file
    rows = [f"S{n},\"region, {n}\"" for n in range(1, 201)]
    (tmp_path / "stores.csv").write_text("store_id,region\n" + "\n".join(rows) + "\n")
    table = _dataset(tmp_path).load().to_pyarrow().sort_by("SOURCE_ROW")
    assert table["SOURCE_ROW"].to_pylist() == list(range(1, 201))
    assert table["STORE_ID"].to_pylist() == [f"S{n}" for n in range(1, 201)]
    assert table["REGION"].to_pylist()[-1] == "region, 200"

    many = "\n".join(f"S{n},north" for n in range(1, 5001))  # the bad byte is far past the header
    (tmp_path / "stores.csv").write_bytes(f"store_id,region\n{many}\n".encode() + "S9999,st\xf6re\n".encode("latin-1"))
    with pytest.raises(Exception, match=r"stores\.csv: is not UTF-8 encoded"):
        _dataset(tmp_path).load().to_pyarrow()


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    (tmp_path / "stores.csv").write_bytes("\ufeffstore_id,region\nS1,north\n".encode("utf-8"))
    rows = _dataset(tmp_path).load().to_pyarrow().to_pylist()
    assert [(r["STORE_ID"], r["REGION"], r["SOURCE_ROW"]) for r in rows] == [("S1", "north", 1)]


def _manifest(directory, entity="stores"):
    return RawFileManifestDataset(directory=str(directory), entity=entity, connection={"backend": "duckdb", "database": ":memory:"})


def test_the_file_manifest_counts_the_rows_the_stream_handed_over_and_reads_only_the_others(tmp_path, monkeypatch):
    (tmp_path / "stores.csv").write_text("store_id,region\nS1,north\nS2,south\nS3,east\n")
    reader, manifest = _dataset(tmp_path), _manifest(tmp_path)
    manifest.count_with(reader)
    # Bronze streams stores.csv in this run; stores_more.csv arrives after, so nothing streamed it.
    assert reader.load().count().to_pyarrow().as_py() == 3
    (tmp_path / "stores_more.csv").write_text("store_id,region\nS4,west\n")
    read = []
    original = raw_files.RawFilesDataset._read
    monkeypatch.setattr(raw_files.RawFilesDataset, "_read", lambda self, path, *a: read.append(path.name) or original(self, path, *a))

    def rows():
        return sorted(tuple(r.values()) for r in manifest.load().to_pyarrow().to_pylist())

    assert rows() == [
        ("stores.csv", raw_files._sha256(tmp_path / "stores.csv"), 3),
        ("stores_more.csv", raw_files._sha256(tmp_path / "stores_more.csv"), 1),
    ]
    assert read == ["stores_more.csv"]  # the streamed file's count is the stream's
    # A changed file is a different file: read and counted again.
    (tmp_path / "stores.csv").write_text("store_id,region\nS1,north\n")
    assert [(f, n) for f, _, n in rows()] == [("stores.csv", 1), ("stores_more.csv", 1)]
    assert read == ["stores_more.csv", "stores.csv"]


def test_a_file_manifest_not_handed_a_reader_reads_and_counts_every_file_itself(tmp_path, monkeypatch):
    (tmp_path / "stores.csv").write_text("store_id,region\nS1,north\nS2,south\nS3,east\n")
    assert _dataset(tmp_path).load().count().to_pyarrow().as_py() == 3  # another reader's stream
    read = []
    original = raw_files.RawFilesDataset._read
    monkeypatch.setattr(raw_files.RawFilesDataset, "_read", lambda self, path, *a: read.append(path.name) or original(self, path, *a))
    assert [(r["SOURCE_FILE"], r["RAW_ROWS"]) for r in _manifest(tmp_path).load().to_pyarrow().to_pylist()] == [("stores.csv", 3)]
    assert read == ["stores.csv"]
    with pytest.raises(ValueError, match="are not"):
        _manifest(tmp_path).count_with(_dataset(tmp_path, "orders"))


def test_the_file_manifest_of_an_entity_without_files_is_none(tmp_path):
    assert _manifest(tmp_path, "returns").load() is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # A quote opened on line 3 and never closed swallows the lines after it into one value.
        (
            'store_id,region,format\nS1,north,mall\nS2,"south,mall\nS3,east,mall\nS4,west,"kiosk\n',
            r"stores\.csv: cannot be parsed as CSV at line 3: a quoted value opened on line 3 runs on to line 5 "
            r"\(an unclosed quote\?\)",
        ),
        (
            'store_id,region,format\nS1,north,mall\nS2,south,mall\nS3,east,mall,extra\n',
            r"stores\.csv: cannot be parsed as CSV at line 4: 4 values where the header has 3 \(an unquoted comma in a value\?\)",
        ),
    ],
    ids=["unclosed-quote", "extra-value"],
)
def test_a_csv_parse_error_names_the_file_the_line_and_the_likely_cause(tmp_path, data, message):
    (tmp_path / "stores.csv").write_text(data)
    with pytest.raises(Exception, match=message) as raised:
        _dataset(tmp_path).load().to_pyarrow()
    assert len(str(raised.value)) < 1000  # not the swallowed text of the whole file


def test_a_byte_that_is_not_utf8_is_located_by_its_line(tmp_path):
    many = "\n".join(f"S{n},north" for n in range(1, 5001))
    (tmp_path / "stores.csv").write_bytes(f"store_id,region\n{many}\n".encode() + "S9999,st\xf6re\n".encode("latin-1"))
    with pytest.raises(Exception, match=r"stores\.csv: is not UTF-8 encoded at line 5002"):
        _dataset(tmp_path).load().to_pyarrow()


def test_in_a_run_the_load_log_counts_the_rows_bronze_was_handed_without_reading_a_file_again(workspace, monkeypatch):
    tables = small_retailer()
    workspace.write_retailer(tables)
    read = []
    original = raw_files.RawFilesDataset._read
    monkeypatch.setattr(raw_files.RawFilesDataset, "_read", lambda self, path, *a: read.append((type(self).__name__, path.name)) or original(self, path, *a))
    workspace.run("ingest")
    assert sorted(read) == sorted(("RawFilesDataset", f"{entity}.csv") for entity in tables)  # by Bronze only
    assert workspace.rows("SELECT SOURCE_FILE, RAW_ROWS, BRONZE_ROWS FROM OPS.LOAD_LOG ORDER BY 1") == sorted(
        (f"{entity}.csv", len(rows), len(rows)) for entity, rows in tables.items()
    )
