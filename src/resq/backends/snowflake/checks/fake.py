"""A small fake of the Snowflake state a deploy changes: objects, grants, task and alert
states and attached row access policies. It runs a deploy plan statement by statement and
refuses what Snowflake refuses, so the idempotence check can apply the plan twice offline.

What it models, each from Snowflake's documentation:

- ``CREATE OR REPLACE`` of a function, procedure, view, table or dynamic table drops the
  grants on the object unless the statement says ``COPY GRANTS`` (CREATE FUNCTION,
  CREATE PROCEDURE, CREATE VIEW: "COPY GRANTS ... retains the access permissions from the
  original").
- A task cannot be replaced, or its children resumed, while the root task of its graph is
  resumed (ALTER TASK, DROP TASK: "the root task must be suspended"); a task is created
  suspended, and so is a replaced one.
- A table has at most one row access policy (ALTER TABLE ... ADD ROW ACCESS POLICY fails
  on a table that has one).
- A grant on a schema object that does not exist fails.

It is a model of these rules, not of SQL: other statements are recorded and accepted, and
a guard query it does not recognize answers "not in place" (so the statement runs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = ["FakeSnowflake", "FakeSnowflakeError"]


class FakeSnowflakeError(Exception):
    """A statement the fake refuses, as Snowflake would."""


_NAME = r"([A-Za-z_][A-Za-z0-9_$.]*)"
_CREATE = re.compile(
    r"^CREATE\s+(OR\s+REPLACE\s+)?(?:SECURE\s+)?(?:TEMPORARY\s+)?"
    r"(DYNAMIC\s+TABLE|TABLE|VIEW|FUNCTION|PROCEDURE|TASK|ALERT|STREAM|STAGE)\s+"
    rf"(IF\s+NOT\s+EXISTS\s+)?{_NAME}",
    re.IGNORECASE,
)
_STATE = re.compile(
    rf"^ALTER\s+(TASK|ALERT)\s+(IF\s+EXISTS\s+)?{_NAME}\s+(RESUME|SUSPEND)\s*$", re.I
)
_GRANT = re.compile(
    r"^GRANT\s+(.+?)\s+ON\s+(?:(ACCOUNT)|(DYNAMIC\s+TABLE|TABLE|VIEW|FUNCTION|PROCEDURE|"
    rf"DATABASE|SCHEMA|WAREHOUSE|INTEGRATION|SECRET|STAGE|TASK|ALERT)\s+{_NAME})"
    rf"(?:\s*\([^)]*\))?\s+TO\s+ROLE\s+{_NAME}\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ADD_POLICY = re.compile(rf"^ALTER\s+TABLE\s+{_NAME}\s+ADD\s+ROW\s+ACCESS\s+POLICY\s+{_NAME}", re.I)
_AFTER = re.compile(rf"\bAFTER\s+{_NAME}", re.IGNORECASE)
_COMMENT = re.compile(r"\bCOMMENT\s*=\s*'([^']*)'", re.IGNORECASE)

# Kinds whose grants live on the object (and so go when it is replaced).
SCHEMA_KINDS = {"TABLE", "DYNAMIC TABLE", "VIEW", "FUNCTION", "PROCEDURE", "TASK", "ALERT"}


def _kind(text: str) -> str:
    return re.sub(r"\s+", " ", text.upper())


def _key(name: str) -> str:
    return name.split(".")[-1].upper()


@dataclass
class FakeSnowflake:
    """The fake account: feed it statements with :meth:`execute`, guards with :meth:`fetch`."""

    objects: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, NAME) -> sql
    grants: set[tuple[str, str, str, str]] = field(default_factory=set)  # priv, kind, NAME, role
    running: set[tuple[str, str]] = field(default_factory=set)  # resumed tasks and alerts
    after: dict[str, str] = field(default_factory=dict)  # task -> predecessor
    policies: dict[str, str] = field(default_factory=dict)  # table -> policy
    comments: dict[str, str] = field(default_factory=dict)  # object NAME -> COMMENT
    sent: list[str] = field(default_factory=list)
    replaced: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[tuple[str, str, str, str]] = field(default_factory=list)  # grants lost

    # ------------------------------------------------------------------ the backend shape

    def execute(self, sql: str, params: Any = None) -> None:
        self.sent.append(sql)
        text = sql.strip()
        for handler in (self._create, self._state, self._grant, self._add_policy):
            if handler(text):
                return

    def fetch(self, sql: str, params: Any = None) -> pa.Table:
        """Guard queries of the plan: the dynamic table's COMMENT and attached policies."""
        self.sent.append(sql)
        upper = sql.upper()
        answer = 0
        if "INFORMATION_SCHEMA.TABLES" in upper and "COMMENT" in upper:
            table = re.search(r"TABLE_NAME\s*=\s*'([^']+)'", sql, re.I)
            comment = _COMMENT.search(sql)
            if table and comment:
                answer = int(self.comments.get(table.group(1).upper()) == comment.group(1))
        elif "POLICY_REFERENCES" in upper:
            entity = re.search(r"REF_ENTITY_NAME\s*=>\s*'([^']+)'", sql, re.I)
            answer = int(bool(entity) and _key(entity.group(1)) in self.policies)  # type: ignore[union-attr]
        return pa.table({"n": [answer]})

    # ------------------------------------------------------------------ statements

    def _create(self, text: str) -> bool:
        match = _CREATE.match(text)
        if match is None:
            return False
        replace, kind, if_not_exists, raw = match.groups()
        kind, name = _kind(kind), _key(raw)
        exists = (kind, name) in self.objects
        if exists and if_not_exists:
            return True
        if exists and not replace:
            raise FakeSnowflakeError(f"{kind} {name} already exists")
        if kind == "TASK":
            self._refuse_if_graph_running(name, f"replace task {name}" if exists else None)
            pred = _AFTER.search(text)
            if pred is not None:
                parent = _key(pred.group(1))
                if ("TASK", parent) not in self.objects:
                    raise FakeSnowflakeError(
                        f"task {name} runs after {parent}, which does not exist"
                    )
                self._refuse_if_graph_running(parent, f"add task {name} to the graph of {parent}")
                self.after[name] = parent
            else:
                self.after.pop(name, None)
        if exists:
            self.replaced.append((kind, name))
            self.running.discard((kind, name))
            if not re.search(r"\bCOPY\s+GRANTS\b", text, re.IGNORECASE):
                lost = {g for g in self.grants if (g[1], g[2]) == (kind, name)}
                self.dropped.extend(sorted(lost))
                self.grants -= lost
        self.objects[(kind, name)] = re.sub(r"\s+", " ", text)
        comment = _COMMENT.search(text)
        if comment is not None:
            self.comments[name] = comment.group(1)
        return True

    def _root(self, task: str) -> str:
        seen = set()
        while task in self.after and task not in seen:
            seen.add(task)
            task = self.after[task]
        return task

    def _refuse_if_graph_running(self, task: str, doing: str | None) -> None:
        if doing is None:
            return
        root = self._root(task)
        if ("TASK", root) in self.running:
            raise FakeSnowflakeError(
                f"cannot {doing}: the root task {root} of its graph is resumed "
                "(suspend the root task first)"
            )

    def _state(self, text: str) -> bool:
        match = _STATE.match(text)
        if match is None:
            return False
        kind, if_exists, raw, action = match.groups()
        kind, name = kind.upper(), _key(raw)
        if (kind, name) not in self.objects:
            if if_exists:
                return True
            raise FakeSnowflakeError(f"{kind} {name} does not exist")
        if action.upper() == "SUSPEND":
            self.running.discard((kind, name))
            return True
        if kind == "TASK" and name in self.after:
            self._refuse_if_graph_running(name, f"resume task {name}")
        self.running.add((kind, name))
        return True

    def _grant(self, text: str) -> bool:
        match = _GRANT.match(text)
        if match is None:
            return False
        privileges, account, kind, raw, role = match.groups()
        if account:
            kind, name = "ACCOUNT", "ACCOUNT"
        else:
            kind, name = _kind(kind), _key(raw)
        if kind in SCHEMA_KINDS:
            present = (kind, name) in self.objects or (
                kind == "TABLE" and ("DYNAMIC TABLE", name) in self.objects
            )
            if not present:
                raise FakeSnowflakeError(f"cannot grant on {kind} {name}: it does not exist")
            if kind == "TABLE" and ("DYNAMIC TABLE", name) in self.objects:
                kind = "DYNAMIC TABLE"
        for privilege in privileges.split(","):
            self.grants.add((_kind(privilege.strip()), kind, name, role.upper()))
        return True

    def _add_policy(self, text: str) -> bool:
        match = _ADD_POLICY.match(text)
        if match is None:
            return False
        table = _key(match.group(1))
        if table in self.policies:
            raise FakeSnowflakeError(f"table {table} already has a row access policy")
        self.policies[table] = _key(match.group(2))
        return True

    # ------------------------------------------------------------------ comparing

    def state(self) -> dict[str, Any]:
        """What a user of the installation sees: objects, grants, what runs, policies."""
        return {
            "objects": dict(self.objects),
            "grants": set(self.grants),
            "running": set(self.running),
            "policies": dict(self.policies),
        }
