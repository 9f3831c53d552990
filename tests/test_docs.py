"""README.md and docs/: a short README that starts with the Quickstart, links that lead somewhere,
and commands that name what exists (pipelines, nodes, parameters, environments, make targets,
files).

Markdown is read with markdown-it-py (pinned in requirements.lock), so only real links, code
spans and code blocks are checked, never text that merely looks like them."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT
from kedro.framework.startup import bootstrap_project
from markdown_it import MarkdownIt

README = PROJECT / "README.md"
DOCS = sorted((PROJECT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 150
BIN = Path(sys.executable).parent  # the .venv's programs, as the docs name them
MISSING = object()  # a parameter key that is not there (a present key may hold null)

# Top-level folders whose files a page may name in a code span; data/, build/ and dist/ hold what
# runs create, and conf/local/ is each machine's own, so they are not expected in the repository.
TRACKED_ROOTS = ("conf/base/", "conf/dev/", "conf/prod/", "conf/emulator/", "conf/notebook/", "src/", "tests/",
                 "benchmarks/", "sql/", "notebooks/", "powerbi/", "alteryx/", "resources/", ".github/", "docs/")


def _parse(text: str) -> list:
    return MarkdownIt("commonmark").enable("table").parse(text)


def _walk(tokens: list):
    for token in tokens:
        yield token
        yield from _walk(token.children or [])


def _slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    tokens = _parse(path.read_text())
    seen: dict[str, int] = {}
    anchors = set()
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type == "heading_open":
            slug = _slug("".join(child.content for child in inline.children or []))
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` that lead to no file, or to no heading of the file they name."""
    broken = []
    for token in _walk(_parse(page.read_text())):
        target = token.attrGet("href") if token.type == "link_open" else token.attrGet("src") if token.type == "image" else None
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # an absolute URL (https:, mailto:) is not ours to resolve offline
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target} (no such heading)")
    return broken


def _code(page: Path) -> list[str]:
    """Every code span and code block of ``page``."""
    return [t.content for t in _walk(_parse(page.read_text())) if t.type in ("fence", "code_block", "code_inline")]


def _parameters() -> dict:
    merged: dict = {}
    for path in sorted((PROJECT / "conf" / "base").glob("parameters*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def _has_parameter(parameters: dict, dotted: str) -> bool:
    level: object = parameters
    for key in dotted.split("."):
        level = level[key] if isinstance(level, dict) and key in level else MISSING
    return level is not MISSING


def _registered() -> tuple[set[str], set[str]]:
    bootstrap_project(PROJECT)
    from kedro.framework.project import pipelines

    names = set(pipelines)
    return names, {node.name for name in names for node in pipelines[name].nodes}


def wrong_names(page: Path, pipelines: set[str], nodes: set[str], parameters: dict) -> list[str]:
    """What the commands and paths in ``page``'s code name but the project does not have."""
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", (PROJECT / "Makefile").read_text(), re.MULTILINE))
    environments = {p.name for p in (PROJECT / "conf").iterdir() if p.is_dir()}
    wrong = []
    for code in _code(page):
        for option, value in re.findall(r"(--pipelines?|--nodes|--from-nodes|--to-nodes|--env|--params)[= ]([^\s`\"']+)", code):
            if "<" in value or "$" in value:
                continue  # a placeholder
            if option in ("--pipeline", "--pipelines"):
                wrong += [f"pipeline {name}" for name in value.split(",") if name not in pipelines]
            elif option == "--env":
                wrong += [] if value in environments else [f"environment {value}"]
            elif option == "--params":
                names = [assignment.partition("=")[0] for assignment in value.split(",")]
                wrong += [f"parameter {name}" for name in names if not _has_parameter(parameters, name)]
            else:
                wrong += [f"node {name}" for name in value.split(",") if name not in nodes]
        for line in code.splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # not shell (a quote left open in Python or SQL): plain words will do
                words = line.split()
            for word, following in zip(words, words[1:]):
                if word == "make" and re.fullmatch(r"[a-z][\w-]*", following) and following not in targets:
                    wrong.append(f"make target {following}")
        for tool in re.findall(r"(?<![\w/])\.venv/bin/([\w.-]+)", code):
            wrong += [] if (BIN / tool).exists() else [f"program .venv/bin/{tool}"]
        # A parameter named on its own, e.g. `train_eval.fit_jobs`.
        if re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", code) and code.split(".")[0] in parameters:
            wrong += [] if _has_parameter(parameters, code) else [f"parameter {code}"]
        for path in re.findall(r"(?<![\w/.-])((?:\.github|[a-z][\w-]*)/[\w./*-]+)", code):
            path = path.rstrip(".")
            if path.startswith(TRACKED_ROOTS) and not any(PROJECT.glob(path)) and not (PROJECT / path).exists():
                wrong.append(f"path {path}")
    return wrong


def test_the_readme_is_short_and_starts_with_a_two_command_quickstart():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; reference material belongs in docs/"
    tokens = _parse(README.read_text())
    sections = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert sections[0] == "Quickstart", sections
    start = next(i for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2")
    end = next(i for i, t in enumerate(tokens) if i > start and t.type == "heading_open" and t.tag == "h2")
    shell = [t.content for t in tokens[start:end] if t.type == "fence" and t.info.strip() in ("bash", "sh", "shell")]
    commands = [line.split("#")[0].strip() for block in shell for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make run", "make test"], commands


def test_every_relative_link_leads_to_a_file_and_heading():
    broken = {page.name: broken_links(page) for page in PAGES}
    assert {name: links for name, links in broken.items() if links} == {}


def test_every_page_in_docs_is_linked_from_the_readme():
    linked = {(README.parent / t.attrGet("href")).resolve() for t in _walk(_parse(README.read_text())) if t.type == "link_open"}
    assert [page.name for page in DOCS if page.resolve() not in linked] == []


def test_commands_name_pipelines_nodes_parameters_environments_and_files_that_exist():
    pipelines, nodes = _registered()
    parameters = _parameters()
    wrong = {page.name: wrong_names(page, pipelines, nodes, parameters) for page in PAGES}
    assert {name: names for name, names in wrong.items() if names} == {}


def test_the_checks_catch_a_broken_link_and_wrong_names(tmp_path):
    """The checks above can fail: a page with a dead link, a missing heading and wrong names."""
    (tmp_path / "other.md").write_text("# Other\n\n## Real heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#real-heading) [dead](missing.md) [no heading](other.md#nowhere) "
        "[web](https://example.com)\n\n"
        "```bash\n.venv/bin/kedro run --pipelines ingest,nosuch --env nowhere --params event_dates.min=1997-01-01,dq.nope=1\n"
        "make run\nmake nosuchtarget\n.venv/bin/python benchmarks/nosuch.py\n```\n\n"
        "`--from-nodes no_such_node` and `conf/base/parameters_dq.yml`, `dq.volume.min_ratio` but `dq.volume.nope`, "
        "`.venv/bin/kedro` but `.venv/bin/nosuch`\n"
    )
    assert broken_links(page) == ["missing.md (no such file)", "other.md#nowhere (no such heading)"]
    pipelines, nodes = _registered()
    assert sorted(wrong_names(page, pipelines, nodes, _parameters())) == sorted(
        ["pipeline nosuch", "environment nowhere", "parameter dq.nope", "make target nosuchtarget",
         "path benchmarks/nosuch.py", "node no_such_node", "parameter dq.volume.nope", "program .venv/bin/nosuch"]
    )


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_upgrade_notes_or_benchmark_history(page):
    """The docs describe the product as it is: nothing about warehouses built by an earlier version."""
    text = page.read_text()
    for phrase in ("built before", "loaded before", "no longer", "previous version", "the older keys"):
        assert phrase not in text, f"{page.name}: {phrase!r}"
