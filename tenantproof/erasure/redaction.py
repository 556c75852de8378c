"""Recognising the deleted tenant in text and redacting it: its id and name, as whole
identifiers among every registered tenant's, replaced by ``[deleted tenant]`` (the rule of
``exports.contract.mention_pattern``), in Python and in DuckDB SQL alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from exports.contract import (
    NEVER,
    alternation,
    mention_pattern,
)

REDACTED = "[deleted tenant]"
# Marks around every recognised tenant identifier while redacting, so that only whole
# identifiers equal to the deleted tenant's are replaced: deleting t1 leaves t1.eu alone.
MARK_OPEN, MARK_CLOSE = "\x01", "\x02"


@dataclass(frozen=True)
class Identifiers:
    """The deleted tenant's id and name, among every registered tenant's identifiers."""

    tenant_id: str
    tenant_name: str | None
    others: tuple[str, ...] = ()

    @property
    def own(self) -> list[str]:
        return [w for w in (self.tenant_id, self.tenant_name) if w]

    @property
    def marking(self) -> str:
        """Every tenant identifier as a whole word, longest first (as the dbt scrub macro)."""
        return mention_pattern([*self.own, *self.others]) or NEVER

    @property
    def own_marked(self) -> str:
        return "(?i)" + MARK_OPEN + alternation(self.own) + MARK_CLOSE

    @property
    def own_substring(self) -> str:
        return "(?i)" + alternation(self.own)

    def redact(self, text: str) -> str:
        own = {w.lower() for w in self.own}
        return re.sub(
            self.marking, lambda m: REDACTED if m.group(0).lower() in own else m.group(0), text
        )

    def may_name_tenant(self, text: str) -> bool:
        """Cheap pre-filter: the tenant's id or name occurs at all, in any case."""
        low = text.lower()
        return any(w.lower() in low for w in self.own)

    def params(self) -> dict[str, str]:
        return {
            "tenant_id": self.tenant_id,
            "identifiers": self.marking,
            "own_marked": self.own_marked,
            "mark": MARK_OPEN + r"\1" + MARK_CLOSE,
        }


def marked(column: str) -> str:
    return f"regexp_replace({column}, $identifiers, $mark, 'g')"


def names_tenant_sql(column: str) -> str:
    return f"coalesce(regexp_matches({marked(column)}, $own_marked), false)"


def redacted_sql(column: str) -> str:
    replaced = f"regexp_replace({marked(column)}, $own_marked, '{REDACTED}', 'g')"
    return f"replace(replace({replaced}, chr(1), ''), chr(2), '')"


def sql_params(ids: Identifiers, sql: str) -> dict[str, str]:
    """The named parameters a statement uses (DuckDB refuses unused ones)."""
    every = {**ids.params(), "tenant_id_re": re.escape(ids.tenant_id)}
    return {k: v for k, v in every.items() if re.search(rf"\${k}\b", sql)}


def count_rows(con: duckdb.DuckDBPyConnection, sql: str, ids: Identifiers) -> int:
    return int(con.execute(sql, sql_params(ids, sql)).fetchone()[0])
