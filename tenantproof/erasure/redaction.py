"""Recognising the deleted tenant in text and redacting it: its id and name, as whole
identifiers among every registered tenant's, replaced by ``[deleted tenant]`` (the rule of
``exports.contract.Recogniser``, docs/TENANT_MENTIONS.md), in Python, DuckDB SQL and Arrow
alike."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from exports.contract import (
    DELETED_TENANT,
    MARK_CLOSE,
    MARK_OPEN,
    NEUTRAL,
    NEVER,
    SENTINEL,
    SQL_TOKEN,
    Recogniser,
    escape_literal,
    sql_marked,
)

REDACTED = DELETED_TENANT


@dataclass(frozen=True)
class Identifiers:
    """The deleted tenant's id and name, among every registered tenant's identifiers."""

    tenant_id: str
    tenant_name: str | None
    others: tuple[str, ...] = ()

    @cached_property
    def recogniser(self) -> Recogniser:
        return Recogniser(
            [(self.tenant_id, self.tenant_name)], words=[("", w) for w in self.others]
        )

    @property
    def marking(self) -> str:
        """Every tenant identifier over marked tokens, longest first (as the dbt scrub)."""
        return "(?i)" + self.recogniser.sql_alternation()

    @property
    def own_marked(self) -> str:
        return "(?i)" + self.recogniser.own_marked(self.tenant_id)

    @property
    def own_substring(self) -> str:
        """Cheap pre-filter: the first word of the tenant's id or name occurs, in any case."""
        words = self.recogniser.first_words(self.tenant_id)
        return "(?i)(" + "|".join(escape_literal(w) for w in words) + ")" if words else NEVER

    def redact(self, text: str) -> str:
        return self.recogniser.replace_own(text, self.tenant_id, REDACTED)

    def may_name_tenant(self, text: str) -> bool:
        return re.search(self.own_substring, text) is not None

    def params(self) -> dict[str, str]:
        return {
            "tenant_id": self.tenant_id,
            "token": SQL_TOKEN,
            "identifiers": self.marking,
            "own_marked": self.own_marked,
        }

    def arrow_redacted(self, values: pa.ChunkedArray) -> pa.ChunkedArray:
        """The same steps as ``redacted_sql`` on an Arrow string column (Arrow runs RE2 too)."""
        for c in (MARK_OPEN, MARK_CLOSE, SENTINEL):
            values = pc.replace_substring(values, c, NEUTRAL)
        values = pc.replace_substring_regex(values, SQL_TOKEN, SENTINEL + r"\0" + SENTINEL)
        values = pc.replace_substring_regex(values, self.marking, MARK_OPEN + r"\0" + MARK_CLOSE)
        values = pc.replace_substring_regex(values, self.own_marked, REDACTED)
        for c in (MARK_OPEN, MARK_CLOSE, SENTINEL):
            values = pc.replace_substring(values, c, "")
        return values


def names_tenant_sql(column: str) -> str:
    return f"coalesce(regexp_matches({sql_marked(column)}, $own_marked), false)"


def redacted_sql(column: str) -> str:
    replaced = f"regexp_replace({sql_marked(column)}, $own_marked, '{REDACTED}', 'g')"
    return f"replace(replace(replace({replaced}, chr(1), ''), chr(2), ''), chr(3), '')"


def sql_params(ids: Identifiers, sql: str) -> dict[str, str]:
    """The named parameters a statement uses (DuckDB refuses unused ones)."""
    every = {**ids.params(), "tenant_id_re": re.escape(ids.tenant_id)}
    return {k: v for k, v in every.items() if re.search(rf"\${k}\b", sql)}


def count_rows(con: duckdb.DuckDBPyConnection, sql: str, ids: Identifiers) -> int:
    return int(con.execute(sql, sql_params(ids, sql)).fetchone()[0])
