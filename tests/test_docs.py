"""The docs tell the truth: nav targets exist, golden values match the core, examples run.

The site itself is built by `make test` (`mkdocs build --strict`), not here.
"""

from __future__ import annotations

import doctest
import math
import re
from collections.abc import Iterator
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


def _nav_pages(node: Any) -> Iterator[str]:
    """Every page path in a mkdocs nav (strings, lists and {title: page-or-section})."""
    if isinstance(node, str):
        if not re.match(r"^[a-z][a-z0-9+.-]*://", node):  # external links are not pages
            yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_pages(value)


def _fences(page: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block in a docs page."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return [(m["info"].strip(), m["body"]) for m in FENCE.finditer(text)]


def test_every_nav_page_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = list(_nav_pages(config["nav"]))
    assert pages, "mkdocs.yml has an empty nav"
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml nav lists pages that do not exist under docs/: {missing}"


def _golden_rows() -> list[dict[str, str]]:
    """The rows of the golden-values table in concepts.md, keyed by its header."""
    text = (DOCS / "concepts.md").read_text(encoding="utf-8")
    section = text[text.index("Golden values") :]
    lines = [ln.strip() for ln in section.splitlines()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    table = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        table.append([cell.strip() for cell in ln.strip("|").split("|")])
    header, body = table[0], table[2:]  # table[1] is the |---| separator
    return [dict(zip(header, row, strict=True)) for row in body]


def test_golden_values_in_concepts_match_the_core() -> None:
    import resq.core

    for name in ("safety_stock", "reorder_point"):
        assert hasattr(resq.core, name), (
            f"docs/concepts.md documents resq.core.{name}, but resq.core has no {name}"
        )
    rows = _golden_rows()
    assert len(rows) >= 2, "concepts.md should document both golden cases (sd_L = 2 and 0)"
    for row in rows:
        d, sd, lead, sd_lead = (float(row[k]) for k in ("d", "sd_d", "L", "sd_L"))
        level = float(row["service level"].rstrip("% ")) / 100
        args = (d, sd, lead, sd_lead, level)
        where = f"concepts.md golden row {row}"
        assert round(NormalDist().inv_cdf(level), 4) == float(row["z"]), where
        sigma = math.sqrt(lead * sd**2 + d**2 * sd_lead**2)
        assert round(sigma, 2) == float(row["sigma over lead time"]), where
        assert round(resq.core.safety_stock(*args), 1) == float(row["safety stock"]), where
        assert round(resq.core.reorder_point(*args), 1) == float(row["reorder point"]), where


def test_quickstart_exec_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ```python exec blocks run in order, in one namespace, like a notebook."""
    blocks = [body for info, body in _fences("quickstart.md") if info == "python exec"]
    assert blocks, "quickstart.md has no ```python exec blocks"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__quickstart__"}
    for i, body in enumerate(blocks, 1):
        code = compile(body, f"docs/quickstart.md (python exec block {i})", "exec")
        exec(code, namespace)


@pytest.mark.parametrize("page", ["index.md", "quickstart.md", "concepts.md"])
def test_python_blocks_are_valid_python(page: str) -> None:
    """Blocks not run here (the backend tour) must at least be valid Python."""
    for i, (info, body) in enumerate(_fences(page), 1):
        if info.split()[:1] == ["python"] and not body.lstrip().startswith(">>>"):
            compile(body, f"docs/{page} (code block {i})", "exec")


def test_concepts_examples_are_true() -> None:
    """The >>> examples in concepts.md hold, as doctests."""
    import resq

    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    examples = [body for info, body in _fences("concepts.md") if ">>>" in body]
    assert examples, "concepts.md has no >>> examples"
    for i, body in enumerate(examples, 1):
        test = parser.get_doctest(body, {"resq": resq}, f"concepts.md:{i}", "concepts.md", 0)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} >>> example(s) in concepts.md failed (see above)"


def test_replay_exec_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ```python exec blocks of replay.md run in order, in one namespace."""
    blocks = [body for info, body in _fences("replay.md") if info == "python exec"]
    assert len(blocks) >= 3, "replay.md should show the replay, a chaos scenario, a policy"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__replay__"}
    for i, body in enumerate(blocks, 1):
        exec(compile(body, f"docs/replay.md (python exec block {i})", "exec"), namespace)


@pytest.mark.slow
def test_replay_tables_are_the_real_365_day_comparison() -> None:
    """The tables in replay.md are what the replay gives on the default network today."""
    from resq import replay

    text = (DOCS / "replay.md").read_text(encoding="utf-8")
    result = replay.replay(replay.simulated_network(), list(replay.POLICIES), 365)
    assert result.to_markdown() in text, "replay.md's all-sectors table is stale"
    for sector in ("HOSPITAL", "PDS", "NGO"):
        assert result.to_markdown("sector", sector) in text, f"replay.md's {sector} table"
