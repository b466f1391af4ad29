"""Loaded text never becomes markup on the dashboard (issue 11, item 14).

Organization, item, unit, sku and vendor names, and the person's own name, are loaded
with Markdown, HTML and Streamlit directives in them (a phishing link, a remote image,
raw HTML, a colour directive, an icon, LaTeX, bare URLs that GitHub-flavoured Markdown
would autolink). Every page is driven through Streamlit's AppTest, and every element
Streamlit renders as Markdown (titles, markdown, captions, messages, metric labels and
values, button labels) is parsed with a CommonMark parser: no link or image to the
attacker's host, no raw HTML, no directive or autolink from the data, while the names
still show, literally, as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from hypothesis import given, settings
from hypothesis import strategies as st_h
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

import resq
from resq.dashboard import APP, DB_ENV, ORG_ENV
from resq.dashboard._ui import md

ORG = "HOSP-BLR-001"
HOST = "evil.example"
VENDOR = f"![](https://{HOST}/vendor.png)"
SKU = f"[sku](https://{HOST}/sku)"
ITEM = f"[verify your login](https://{HOST}/login) :red[ALERT] :material/phishing:"
UNIT = f"<img src=https://{HOST}/unit.png> $x^2$"
ORG_NAME = f"<script>alert(1)</script> www.{HOST} https://{HOST}/org"
ACTOR = f"**boss** [reset](https://{HOST}/reset) <b>x</b>"
HOSTILE = (VENDOR, SKU, ITEM, UNIT, ORG_NAME, ACTOR)
PARSER = MarkdownIt("commonmark")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test connects anew (the app caches its connection per URL)."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def hostile_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The seeded network with hostile names loaded through the library's own loads, then
    one heal cycle, so the hostile item is ordered from the hostile vendor."""
    url = f"duckdb:///{tmp_path}/hostile.duckdb"
    backend = resq.connect(url)
    backend.init()
    engine = resq.SelfHealingEngine(backend)
    engine.seed(actor="test-setup")
    # a licensed medical-gas supplier: the only kind authorized for oxygen
    backend.load(
        "vendors", [{"vendor_id": VENDOR, "vendor_name": ITEM, "vendor_type": "MEDICAL_GAS"}]
    )
    backend.load(
        "organizations",
        [{"org_id": ORG, "org_name": ORG_NAME, "sector": "HOSPITAL", "city": "Bangalore"}],
    )
    backend.load(
        "inventory_master",
        [
            {
                "org_id": ORG,
                "sku": SKU,
                "item_name": ITEM,
                "category": "OXYGEN",
                "current_stock": 0,
                "daily_consumption": 5,
                "unit": UNIT,
                "preferred_vendor": "Dunzo",
            }
        ],
    )
    backend.load(
        "vendor_catalog",
        [
            {"vendor_id": VENDOR, "sku": SKU, "city": "Bangalore", "price": 1, "lead_time_days": 1},
            {
                "vendor_id": "Dunzo",
                "sku": SKU,
                "city": "Bangalore",
                "price": 1,
                "lead_time_days": 1,
            },
        ],
    )
    backend.refresh_signals()
    report = engine.heal()
    assert any(o["sku"] == SKU and o["vendor"] == VENDOR for o in report.as_dict()["orders"])
    backend.close()
    monkeypatch.setenv(DB_ENV, url)
    monkeypatch.delenv(ORG_ENV, raising=False)
    return url


def _markdown_sources(at: AppTest) -> list[str]:
    """The Markdown source of every element Streamlit renders as Markdown."""
    out: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("success", "info", "warning", "error"):
        out += [str(e.value) for e in getattr(at, kind)]
    for metric in at.metric:
        out += [str(metric.label), str(metric.value)]
    out += [str(b.label) for b in at.button]
    return out


def _plain(source: str) -> str:
    """What a person reads: the rendered HTML's text."""
    return html.unescape(re.sub(r"<[^>]+>", "", PARSER.render(source)))


def _assert_inert(source: str) -> None:
    """No markup in ``source`` came from the data."""
    for token in PARSER.parse(source):
        for child in [token, *(token.children or [])]:
            if child.type in ("link_open", "image"):
                target = str(child.attrs.get("href") or child.attrs.get("src") or "")
                assert HOST not in target, (child.type, target, source)
            if child.type in ("html_inline", "html_block"):
                raise AssertionError(f"raw HTML {child.content!r} in {source!r}")
    for literal in (
        f"https://{HOST}",  # a bare URL GitHub-flavoured Markdown would link
        f"www.{HOST}",
        ":red[ALERT]",  # a Streamlit colour directive
        ":material/phishing:",  # a Streamlit icon
        "$x^2$",  # LaTeX
    ):
        assert literal not in source, (literal, source)


def _check_page(at: AppTest) -> str:
    assert not at.exception, [e.value for e in at.exception]
    sources = _markdown_sources(at)
    for source in sources:
        _assert_inert(source)
    return "\n".join(_plain(s) for s in sources)


@pytest.mark.slow
@pytest.mark.parametrize("org", [None, ORG])
def test_hostile_names_render_as_text_on_every_page(hostile_db: str, org: str | None) -> None:
    state: dict[str, Any] = {"actor": ACTOR}
    if org:
        state["org"] = org
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    shown = _check_page(at)
    at.switch_page("views/validation.py").run()
    shown += _check_page(at)
    # Press Heal now: the cycle's report and its order cards.
    at.button(key="heal").click().run()
    shown += _check_page(at)
    # What-if: the replay of the same network, its scenario caption and its tables.
    at.switch_page("views/whatif.py").run()
    shown += _check_page(at)
    at.button(key="whatif_run").click().run()
    shown += _check_page(at)
    # The names are still there, as the literal text a person typed.
    for name in (ACTOR, VENDOR, SKU):
        assert name in shown, name
    assert re.sub(r"\s+", " ", ITEM) in shown or ITEM in shown


@settings(max_examples=200)
@given(
    text=st_h.text(
        alphabet=st_h.sampled_from(list("[]()!<>*_`~#:$\\/|-.+=&;@ abc/:.\n\t")), max_size=60
    )
)
def test_escaped_text_renders_as_exactly_that_text(text: str) -> None:
    """The helper's contract on any text: CommonMark renders it back as the same text (line
    breaks and tabs as spaces), with no link, image, HTML, code, emphasis or heading."""
    source = md(text)
    tokens = PARSER.parse(source)
    assert [t.type for t in tokens] in (
        [],
        ["paragraph_open", "inline", "paragraph_close"],
    ), (text, source)
    children = [c.type for t in tokens for c in (t.children or [])]
    assert set(children) <= {"text", "softbreak"}, (text, source, children)
    expected = re.sub(r"\s+", " ", text).strip()
    assert _plain(source).strip() == expected, (text, source, _plain(source))
