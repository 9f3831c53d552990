"""The packaged product: `kedro package` builds the wheel and the configuration archive, the wheel
installs into a fresh virtual environment, and its console script runs the control tower end to
end on the local environment — as a Databricks `python_wheel_task` would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import duckdb
from conftest import PROJECT

SMALL = "synthetic.customers=500,synthetic.stores=6,synthetic.products=60,synthetic.history_days=540,synthetic.target_order_lines=25000"


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


def test_the_wheel_installs_in_a_fresh_environment_and_runs_end_to_end(tmp_path):
    source = tmp_path / "source"
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=PROJECT, capture_output=True, check=True).stdout
    source.mkdir()
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    _run([str(Path(sys.executable).parent / "kedro"), "package"], cwd=source)
    wheel = next((source / "dist").glob("retail_control_tower-*.whl"))
    conf = source / "dist" / "conf-retail_control_tower.tar.gz"
    with tarfile.open(conf) as bundle:
        names = bundle.getnames()
    assert "conf/base/catalog.yml" in names and "conf/prod/globals.yml" in names
    assert not [n for n in names if n.startswith("conf/local/") and n.endswith(".yml")]  # no local secrets shipped

    # Nothing of the checkout may leak in: Kedro's bootstrap puts the project's src/ on
    # PYTHONPATH, where pip would find the editable install and skip the wheel.
    workdir = tmp_path / "job"  # not the project: the packaged run needs only the wheel and the archive
    workdir.mkdir()
    data = workdir / "data"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("RCT_", "VIRTUAL_ENV", "PYTHONPATH"))},
           "RCT_DATA_DIR": str(data), "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-c", str(PROJECT / "requirements.lock"), str(wheel)], env=env, cwd=workdir, timeout=900)
    assert (venv / "bin" / "retail-control-tower").exists() and (venv / "bin" / "retail-control-tower-sql").exists()
    script = str(venv / "bin" / "retail-control-tower")
    common = ["--conf-source", str(conf)]
    _run([script, *common, "--pipeline", "generate", "--params", SMALL], cwd=workdir, env=env, timeout=600)
    _run([script, *common], cwd=workdir, env=env, timeout=900)
    _run([script, *common, "--pipeline", "smoke"], cwd=workdir, env=env, timeout=300)

    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    statuses = con.sql("SELECT PIPELINES, STATUS FROM OPS.PIPELINE_RUN_LOG ORDER BY STARTED_AT").fetchall()
    scored = con.sql("SELECT COUNT(*) FROM REPORTING.V_LATEST_CHURN_SCORES").fetchone()[0]
    version = con.sql("SELECT PACKAGE_VERSION FROM OPS.PIPELINE_RUN_LOG LIMIT 1").fetchone()[0]
    con.close()
    assert [s for _, s in statuses] == ["success"] * 3 and statuses[1][0].startswith("ingest,dq,features")
    assert scored > 300 and version == "0.1.0"
    assert (data / "08_reporting" / "control_tower_report.html").exists()
    assert not (workdir / "mlruns").exists()
    shutil.rmtree(venv)
