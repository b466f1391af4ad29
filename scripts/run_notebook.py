"""Execute examples/tour.ipynb in place, so it is committed with the outputs it really
gives: ``python scripts/run_notebook.py`` (the tests check the committed outputs)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tour.ipynb"


def execute(path: Path = NOTEBOOK) -> nbformat.NotebookNode:
    """The notebook at ``path``, executed top to bottom in a fresh kernel."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    for cell in notebook.cells:  # wall-clock timings would change on every run
        cell.metadata.pop("execution", None)
    return notebook


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOK
    nbformat.write(execute(target), target)
    print(f"executed {target}")
