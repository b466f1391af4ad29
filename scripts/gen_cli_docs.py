"""Write docs/cli.md from the resq typer app, or check that it is up to date.

``python scripts/gen_cli_docs.py`` (re)writes docs/cli.md; with ``--check`` it writes
nothing and exits 1 when docs/cli.md is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from resq.cli.docgen import render

TARGET = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        print(f"{TARGET} is up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
