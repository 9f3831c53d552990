"""Wall time and peak memory of ``ingest`` and ``dq`` at the default and the large scale.

    .venv/bin/python benchmarks/ingest_dq.py                 # default scale (make run data)
    .venv/bin/python benchmarks/ingest_dq.py --scale large   # 1,000,000 customers, ~50M order lines
    .venv/bin/python benchmarks/ingest_dq.py --scale 5000:250000
    .venv/bin/python benchmarks/ingest_dq.py --combined      # also ingest + dq in one process
    .venv/bin/python benchmarks/ingest_dq.py --scale large --keep --reuse   # time again on kept raw files

Each pipeline runs as its own ``kedro run`` process on a fresh data folder under
``data/benchmarks/<scale>``; peak memory is that process's maximum resident set (what the
operating system measured, DuckDB's native memory included). Data generation is timed apart,
and its writes are flushed to disk before the timed runs start.
Below each pipeline, its slowest nodes as the run log timed them (``OPS.NODE_RUN_LOG``: a node
until its outputs were written, which is when the warehouse runs its query).
Targets: default ≤ 20 s for ingest + dq; large ≤ 300 s and ≤ 6 GiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
KEDRO = [sys.executable, "-m", "kedro"]
SCALES = {
    "default": {"customers": 20_000, "target_order_lines": 1_000_000},
    "large": {"customers": 1_000_000, "target_order_lines": 50_000_000, "products": 5_000, "stores": 200},
}
TARGETS = {"default": (20.0, None), "large": (300.0, 6.0)}


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Runs ``command``; returns (wall seconds, peak RSS GiB) of that process tree's largest process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024**2


def slowest_nodes(warehouse: Path, count: int) -> str:
    """The latest run's slowest nodes, from the run log the run itself wrote."""
    import ibis  # noqa: PLC0415  (the project's environment; imported late to keep --help fast)

    con = ibis.duckdb.connect(str(warehouse), read_only=True)
    try:
        log = con.table("NODE_RUN_LOG", database="OPS")
        latest = log.filter(log.RUN_ID == log.RUN_ID.max())
        rows = latest.order_by(latest.DURATION_SECONDS.desc()).limit(count).to_pyarrow().to_pylist()
    finally:
        con.disconnect()
    return ", ".join(f"{r['NODE_NAME']} {r['DURATION_SECONDS']:.1f} s" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default", help="default, large, or CUSTOMERS:ORDER_LINES")
    parser.add_argument("--keep", action="store_true", help="keep the generated data folder")
    parser.add_argument("--reuse", action="store_true", help="time on the raw files a --keep run left, without generating them again")
    parser.add_argument("--nodes", type=int, default=5, help="how many of each pipeline's slowest nodes to list")
    parser.add_argument(
        "--combined", action="store_true",
        help="also time ingest + dq as one `kedro run` (the default pipeline, as `make run` runs it) on a fresh warehouse",
    )
    args = parser.parse_args()
    if args.scale in SCALES:
        scale = SCALES[args.scale]
    else:
        customers, lines = (int(x) for x in args.scale.split(":"))
        scale = {"customers": customers, "target_order_lines": lines}

    data_dir = PROJECT / "data" / "benchmarks" / args.scale.replace(":", "_")
    reuse = args.reuse and (data_dir / "01_raw" / "order_items.csv").exists()
    if reuse:
        for stale in data_dir.glob("warehouse.duckdb*"):
            stale.unlink()
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
    env = {**os.environ, "RCT_DATA_DIR": str(data_dir), "RCT_RAW_DIR": str(data_dir / "01_raw"),
           "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    overrides = ",".join(f"synthetic.{key}={value}" for key, value in scale.items())

    print(f"scale {args.scale}: {scale}", flush=True)
    if not reuse:
        gen_wall, gen_rss = timed([*KEDRO, "run", "--pipelines", "generate", "--params", overrides], env)
    lines = sum(1 for _ in (data_dir / "01_raw" / "order_items.csv").open()) - 1
    if reuse:
        print(f"generate     reused the raw files in {data_dir / '01_raw'} ({lines:,} order lines)", flush=True)
    else:
        print(f"generate     {gen_wall:8.1f} s  {gen_rss:6.2f} GiB peak  ({lines:,} order lines, not part of the target)", flush=True)
    # The generator's gigabytes are still being written back to disk; that is not ingest's time.
    os.sync()

    total = 0.0
    peak = 0.0
    for pipeline in ("ingest", "dq"):
        wall, rss = timed([*KEDRO, "run", "--pipelines", pipeline], env)
        total += wall
        peak = max(peak, rss)
        print(f"{pipeline:<12} {wall:8.1f} s  {rss:6.2f} GiB peak", flush=True)
        if args.nodes:
            print(f"{'':<12} slowest: {slowest_nodes(data_dir / 'warehouse.duckdb', args.nodes)}", flush=True)
    wall_target, memory_target = TARGETS.get(args.scale, (None, None))
    verdict = []
    if wall_target:
        verdict.append(f"wall {'OK' if total <= wall_target else 'OVER'} (target {wall_target:.0f} s)")
    if memory_target:
        verdict.append(f"memory {'OK' if peak <= memory_target else 'OVER'} (target {memory_target:.0f} GiB)")
    print(f"ingest + dq  {total:8.1f} s  {peak:6.2f} GiB peak  {'; '.join(verdict)}", flush=True)
    if args.combined:
        for stale in data_dir.glob("warehouse.duckdb*"):
            stale.unlink()
        wall, rss = timed([*KEDRO, "run", "--pipelines", "ingest,dq"], env)
        print(f"kedro run    {wall:8.1f} s  {rss:6.2f} GiB peak  (ingest + dq in one process, fresh warehouse)")
    if not args.keep:
        shutil.rmtree(data_dir)


if __name__ == "__main__":
    main()
