"""MkDocs hook: render docstring reStructuredText habits as Markdown.

resq docstrings carry doctests in their text, as fakesnow's do. Plain Markdown would read
``>>>`` as three nested block quotes; this turns each run of doctest lines (up to the next
blank line) into a fenced ``pycon`` block. Sphinx roles (``:func:`name` ``) become plain
code spans. It applies to the pages and to the docstrings mkdocstrings renders (which
builds its Markdown from the same extension list). Fenced code is left alone.
"""

from __future__ import annotations

import re
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})")
_PROMPT = re.compile(r"^(?P<indent>\s*)>>>( |$)")
_ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|exc|obj):`~?(?P<target>[^`]+)`")


def _plain_role(match: re.Match[str]) -> str:
    """`:func:`x`` -> `x`; `:class:`~a.b.C`` -> `C` (the tilde shows the last part)."""
    target = match["target"]
    if match.group(0).split("`")[1].startswith("~"):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


class DoctestPreprocessor(Preprocessor):
    """Outside fenced code: wrap runs of doctest lines in ``pycon`` fences, unwrap roles."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        fence: str | None = None
        i = 0
        while i < len(lines):
            line = lines[i]
            opened = _FENCE.match(line)
            if fence is not None:
                if (
                    opened
                    and opened["fence"].startswith(fence)
                    and not line.strip()[len(opened["fence"]) :].strip()
                ):
                    fence = None
                out.append(line)
                i += 1
                continue
            if opened:
                fence = opened["fence"]
                out.append(line)
                i += 1
                continue
            prompt = _PROMPT.match(line)
            if not prompt:
                out.append(_ROLE.sub(_plain_role, line))
                i += 1
                continue
            indent = prompt["indent"]
            block: list[str] = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            if out and out[-1].strip():
                out.append("")
            out.extend([f"{indent}```pycon", *block, f"{indent}```", ""])
        return out


class DoctestExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        # After whitespace normalization (30), before fenced code (superfences, 25).
        md.preprocessors.register(DoctestPreprocessor(md), "resq_doctest_blocks", 29)


def on_config(config: Any) -> Any:
    config.markdown_extensions.append(DoctestExtension())
    return config
