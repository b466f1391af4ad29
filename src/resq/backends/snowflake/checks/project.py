"""Check ``project``: the Streamlit in Snowflake project that ``--out`` writes is one the
Snowflake CLI accepts, and holds everything the app needs.

The ``snowflake-cli`` package cannot be installed beside resq's pinned dependencies (it
pins other versions of the connector, Snowpark, typer and pydantic), so this checks the
rules its project model enforces for ``snow streamlit deploy`` (docs/snowflake.md,
"The Streamlit project"):

- ``snowflake.yml`` parses, with ``definition_version: 2`` and a mapping of ``entities``;
- each ``streamlit`` entity has an ``identifier`` with a ``name``, a ``main_file`` and
  ``artifacts``;
- every artifact (a path or glob, or a ``src``/``dest`` pair) is relative, stays inside
  the project root once resolved (symbolic links included), and matches a file;
  every ``dest`` is relative and stays inside the deploy root;
- the ``main_file`` exists in the project root and ``environment.yml`` is there, with the
  ``snowflake`` channel and its dependencies;
- the app's code is there: the entry point's package (``resq/``), with its SQL files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from resq.backends.snowflake.checks import Finding, PlanUnderCheck, check

NAME = "project"
FIX = "write the project with `resq deploy snowflake --out DIR` and deploy from DIR"


def problems(folder: Path) -> list[tuple[str, str]]:
    """(object, problem) for every rule the project in ``folder`` breaks."""
    import yaml

    root = folder.resolve()
    definition = root / "snowflake.yml"
    if not definition.is_file():
        return [("snowflake.yml", f"no snowflake.yml in {folder}")]
    try:
        doc = yaml.safe_load(definition.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [("snowflake.yml", f"does not parse: {exc}")]
    if not isinstance(doc, dict):
        return [("snowflake.yml", "is not a mapping")]
    out: list[tuple[str, str]] = []
    if str(doc.get("definition_version")) != "2":
        out.append(
            ("snowflake.yml", f"definition_version is {doc.get('definition_version')!r}, not 2")
        )
    entities = doc.get("entities")
    if not isinstance(entities, dict) or not entities:
        return [*out, ("snowflake.yml", "has no entities")]
    for key, entity in entities.items():
        if isinstance(entity, dict) and entity.get("type") == "streamlit":
            out.extend((f"entity {key}", p) for p in _streamlit_problems(root, entity))
    env = root / "environment.yml"
    if not env.is_file():
        out.append(("environment.yml", "missing from the project root"))
    else:
        out.extend(("environment.yml", p) for p in _environment_problems(env))
    return out


def _streamlit_problems(root: Path, entity: dict[str, Any]) -> list[str]:
    out = []
    identifier = entity.get("identifier")
    if not (isinstance(identifier, dict) and identifier.get("name")) and not isinstance(
        identifier, str
    ):
        out.append("identifier has no name")
    main_file = entity.get("main_file")
    if not isinstance(main_file, str) or not main_file:
        out.append("no main_file")
    else:
        out.extend(_path_problems(root, main_file, "main_file"))
        if not (root / main_file).is_file():
            out.append(f"main_file {main_file} does not exist in the project root")
    artifacts = entity.get("artifacts")
    if not isinstance(artifacts, list) or not artifacts:
        return [*out, "no artifacts"]
    for artifact in artifacts:
        if isinstance(artifact, str):
            src, dest = artifact, None
        elif isinstance(artifact, dict) and isinstance(artifact.get("src"), str):
            src, dest = artifact["src"], artifact.get("dest")
        else:
            out.append(f"artifact {artifact!r} is neither a path nor a src/dest pair")
            continue
        found = _path_problems(root, src, "artifact src")
        out.extend(found)
        if not found and not _matches(root, src):
            out.append(f"artifact {src} matches no file in the project")
        if dest is not None:
            if not isinstance(dest, str):
                out.append(f"artifact dest {dest!r} is not a path")
            else:
                out.extend(_path_problems(root, dest, "artifact dest", must_resolve=False))
    return out


def _path_problems(root: Path, path: str, what: str, *, must_resolve: bool = True) -> list[str]:
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or (len(path) > 1 and path[1] == ":"):
        return [f"{what} {path} is absolute; the Snowflake CLI takes paths relative to the project"]
    if ".." in pure.parts:
        return [f"{what} {path} uses '..', which may leave the project root"]
    if must_resolve:
        base = path.split("*", 1)[0].rstrip("/") or "."
        resolved = (root / base).resolve()
        if not resolved.is_relative_to(root):
            return [f"{what} {path} resolves outside the project root ({resolved})"]
    return []


def _matches(root: Path, src: str) -> bool:
    if any(ch in src for ch in "*?["):
        return any(p.is_file() for p in root.glob(src))
    target = root / src
    return target.is_file() or (target.is_dir() and any(p.is_file() for p in target.rglob("*")))


def _environment_problems(env: Path) -> list[str]:
    import yaml

    try:
        doc = yaml.safe_load(env.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"does not parse: {exc}"]
    if not isinstance(doc, dict):
        return ["is not a mapping"]
    out = []
    if "snowflake" not in (doc.get("channels") or []):
        out.append("does not use the snowflake channel (the only one Streamlit in Snowflake reads)")
    deps = doc.get("dependencies")
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        out.append("dependencies is not a list of package specs")
    return out


def code_problems(folder: Path, package: str = "resq") -> list[tuple[str, str]]:
    """The app's code in the project: the package with its dashboard and its SQL files."""
    base = folder / package
    wanted = ("dashboard/app.py", "inside/__init__.py", "sql/schema.sql", "sql/snowflake")
    missing = [w for w in wanted if not (base / w).exists()]
    if missing:
        return [(f"{package}/", f"the project lacks {', '.join(missing)} (not self-contained)")]
    return []


@check(NAME)
def project(subject: PlanUnderCheck) -> list[Finding]:
    from resq.backends.snowflake import plan

    with tempfile.TemporaryDirectory(prefix="resq-project-") as tmp:
        folder = Path(tmp) / "project"
        plan.write_project(subject.config, folder)
        found = problems(folder) + code_problems(folder, plan.PACKAGE_DIR)
    return [Finding(NAME, obj, problem, FIX) for obj, problem in found]
