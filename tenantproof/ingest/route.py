"""Checking and routing parsed rows: one CASE picks the first reason a row cannot be loaded
(malformed, a missing field, a type error, no tenant context, an unknown or deleted tenant, a
cross-tenant write, a duplicate); loadable rows go to the raw table, the others to the
quarantine with the reason."""

from __future__ import annotations

import json

import duckdb

from tenantproof.core.policy import Policy
from tenantproof.core.sources import (
    MAX_CELL_BYTES,
    MAX_CELL_TEXT,
    TENANT_ID_PATTERN,
    TENANT_ID_RULE,
    Attribution,
)
from tenantproof.core.warehouse import sql_literal as _q
from tenantproof.ingest.mapping import Mapping, label

UNKNOWN_SOURCE_ACCOUNT = "unknown_source_account"

# -- checking: one CASE picks the first reason a row cannot be loaded --


def _typed(name: str, typ: str) -> str:
    if typ == "TIMESTAMP":
        return f"(try_cast({name} as timestamptz) at time zone 'UTC')"
    if typ == "VARCHAR":
        return name
    return f"try_cast({name} as {typ})"


def _lookup_checks(mapping: Mapping) -> list[tuple[str, str, str, str]]:
    """A record attributed through the lookup: its key must be there, and be in it."""
    if mapping.attribution_mode != "lookup":
        return []
    lookup = mapping.tenant["lookup"]
    field = label(mapping.tenant["key"], "tenant.key")
    rule = "(No Tenant Context, No Write)"
    return [
        (
            "_tenant_key is null",
            _q(field),
            _q(f"no tenant context: {field} is empty, so no tenant can be looked up {rule}"),
            "no_tenant_context",
        ),
        (
            "not _lookup_hit",
            _q(field),
            f"'field {field}: ' || _tenant_key || ' is not in tenant_source_accounts (lookup "
            f"{lookup}): attributed to no tenant'",
            UNKNOWN_SOURCE_ACCOUNT,
        ),
    ]


def _checks(mapping: Mapping, policy: Policy) -> list[tuple[str, str, str, str]]:
    """(condition, field, reason SQL, reason code) in the order they are tried."""
    source = mapping.entity
    checks: list[tuple[str, str, str, str]] = [
        ("_parse_error is not null", "''", "_parse_error", "malformed")
    ]
    for name in source.columns:
        checks.append(
            (
                f"strlen({name}) > {MAX_CELL_BYTES}",
                _q(name),
                f"'field {name}: ' || strlen({name}) || ' bytes, over the "
                f"{MAX_CELL_TEXT} a cell may hold'",
                "cell_too_large",
            )
        )
    for name in source.required:
        checks.append(
            (
                f"{name} is null",
                _q(name),
                _q(f"missing required field {name}"),
                "missing_field",
            )
        )
    for name, typ in source.columns.items():
        if typ != "VARCHAR":
            checks.append(
                (
                    f"{name} is not null and {_typed(name, typ)} is null",
                    _q(name),
                    f"'field {name}: cannot read ' || left({name}, 60) || ' as {typ.lower()}'",
                    "type_error",
                )
            )
    deleted = (
        "tenant_id in (select tenant_id from raw.tenant_tombstones)",
        "'tenant_id'",
        "'tenant ' || tenant_id || ' was deleted (offboarded): its rows are not loaded'",
        "tenant_deleted",
    )
    if source.attribution is Attribution.REGISTRY:
        classes = ", ".join(_q(c) for c in policy.classes)
        regions = " ".join(
            f"when {_q(c)} then {[*sorted(policy.allowed_regions(c))]!r}" for c in policy.classes
        )
        checks += [
            (
                f"not regexp_full_match(tenant_id, {_q(TENANT_ID_PATTERN)})",
                "'tenant_id'",
                "'field tenant_id: ' || tenant_id || ' is not a valid tenant id ("
                + TENANT_ID_RULE
                + ")'",
                "invalid_tenant_id",
            ),
            (
                f"tenant_class not in ({classes})",
                "'tenant_class'",
                "'field tenant_class: unknown class ' || tenant_class || "
                "' (not in seeds/tenant_class_policies.csv)'",
                "unknown_class",
            ),
            (
                f"not list_contains(case tenant_class {regions} end, residency_region)",
                "'residency_region'",
                "'field residency_region: ' || residency_region || "
                "' is not allowed for class ' || tenant_class",
                "region_not_allowed",
            ),
            deleted,
        ]
    else:
        checks += _lookup_checks(mapping)
        rule = "(No Tenant Context, No Write)"
        if mapping.attribution_mode == "delivery_folder":
            checks.append(
                (
                    "tenant_id is null",
                    "'tenant_id'",
                    _q(
                        "no tenant context: the file is not in a tenant's delivery folder "
                        f"(<folder>/tenants/<tenant_id>/) {rule}"
                    ),
                    "no_tenant_context",
                )
            )
        if source.attribution is Attribution.TENANT:
            no_context = f"no tenant context: tenant_id is empty {rule}"
            checks.append(("tenant_id is null", "'tenant_id'", _q(no_context), "no_tenant_context"))
        else:
            checks += [
                (
                    "tenant_id is null and global_scope is null",
                    "'tenant_id'",
                    _q(f"no tenant context: neither tenant_id nor global_scope {rule}"),
                    "no_tenant_context",
                ),
                (
                    "tenant_id is not null and global_scope is not null",
                    "'global_scope'",
                    _q("ambiguous attribution: both tenant_id and global_scope are set"),
                    "ambiguous_attribution",
                ),
                (
                    "global_scope is not null and coalesce(trim(scope_justification), '') = ''",
                    "'scope_justification'",
                    _q("global_scope without scope_justification (empty or blank)"),
                    "global_without_justification",
                ),
            ]
        checks.append(
            (
                "_declared is not null and tenant_id is distinct from _declared",
                "'tenant_id'",
                "'cross-tenant write: file declared for tenant ' || _declared || "
                "' holds a row for ' || coalesce('tenant ' || tenant_id, 'global scope')",
                "cross_tenant_write",
            )
        )
        checks.append(deleted)
        checks.append(
            (
                "tenant_id is not null and not "
                f"regexp_full_match(tenant_id, {_q(TENANT_ID_PATTERN)})",
                "'tenant_id'",
                "'invalid tenant id ' || tenant_id || ' (" + TENANT_ID_RULE + ")' || "
                "coalesce(': its registration was refused at ' || _refused_at, '')",
                "invalid_tenant",
            )
        )
        checks.append(
            (
                "tenant_id is not null and _known_tenant is null",
                "'tenant_id'",
                "'unknown tenant ' || tenant_id || ' (not in the tenant registry)'",
                "unknown_tenant",
            )
        )
    key = source.key
    checks += [
        (
            "_first_seq is not null and _first_seq = _seq and _first_line <> _line",
            _q(key),
            f"'duplicate {key} ' || {key} || ' within the file (first at line ' || _first_line "
            "|| ')'",
            "duplicate_in_file",
        ),
        (
            "_first_seq is not null and (_first_seq <> _seq or _first_line <> _line)",
            _q(key),
            f"'duplicate {key} ' || {key} || ' (first in ' || _first_file || ' line ' || "
            "_first_line || ')'",
            "duplicate_in_delivery",
        ),
        (
            "_prior_file is not null",
            _q(key),
            f"'duplicate {key} ' || {key} || ': already loaded from ' || _prior_file",
            "duplicate_already_loaded",
        ),
    ]
    return checks


def check(con: duckdb.DuckDBPyConnection, mapping: Mapping, policy: Policy) -> None:
    """`_checked`: every row of `_parsed` with the first reason it cannot be loaded (`_reason`,
    `_field`, `_code`; null when it loads)."""
    source = mapping.entity
    checks = _checks(mapping, policy)
    reason = "case " + " ".join(f"when {c} then {r}" for c, _, r, _ in checks) + " end"
    fieldname = "case " + " ".join(f"when {c} then {f}" for c, f, _, _ in checks) + " end"
    code = "case " + " ".join(f"when {c} then {_q(k)}" for c, _, _, k in checks) + " end"
    key = source.key
    registry = source.attribution is Attribution.REGISTRY
    known_col = "null::varchar" if registry else "_known.tenant_id"
    known_join = (
        ""
        if registry
        else "left join raw.tenants _known on _known.tenant_id = p.tenant_id "
        # where an invalid id's registration was refused: the registry's file and line
        "left join (select tenant_hint, min(file || ' line ' || line) as refused_at "
        "from raw.quarantine where source = 'tenants' and reason_code = 'invalid_tenant_id' "
        "group by 1) _refused on _refused.tenant_hint = p.tenant_id"
    )
    refused_col = "null::varchar" if registry else "_refused.refused_at"
    prior_col = "null::varchar" if source.replaces else "_prior._file"
    prior_join = (
        ""
        if source.replaces
        else f"left join (select {key}, any_value(_file) as _file from {source.raw_table} "
        f"where {key} in (select {key} from _parsed) group by {key}) _prior "
        f"on _prior.{key} = p.{key}"
    )
    # Repeated keys are rare: find them by aggregation, not by a window over every row.
    con.execute(
        f"""create or replace temp table _dups as
        select {key}, min({{'s': _seq, 'l': _line}}) as first
        from _parsed where {key} is not null group by {key} having count(*) > 1"""
    )
    con.execute(
        f"""create or replace temp table _checked as
        select *, {reason} as _reason, {fieldname} as _field, {code} as _code
        from (
            select p.*, f.file as _file, f.declared as _declared, {prior_col} as _prior_file,
                   {known_col} as _known_tenant, {refused_col} as _refused_at,
                   d.first.s as _first_seq, d.first.l as _first_line, ff.file as _first_file
            from _parsed p join _files f on f.seq = p._seq
            left join _dups d on d.{key} = p.{key}
            left join _files ff on ff.seq = d.first.s
            {known_join} {prior_join}
        ) x"""
    )


def check_and_route(con: duckdb.DuckDBPyConnection, mapping: Mapping, policy: Policy) -> None:
    """Load the good rows of `_parsed`, quarantine the rest."""
    check(con, mapping, policy)
    source = mapping.entity
    key = source.key
    typed_cols = ", ".join(f"{_typed(n, t)}" for n, t in source.columns.items())
    if source.replaces:
        con.execute(
            f"delete from {source.raw_table} where {key} in "
            f"(select {key} from _checked where _reason is null)"
        )
    con.execute(
        f"""insert into {source.raw_table} ({", ".join(source.columns)}, _file, _line, _sha256,
            _loaded_at, _source, _source_version, _record_sha256, _unmapped)
        select {typed_cols}, c._file, c._line, f.sha256, now()::timestamp,
               {_q(mapping.name)}, {mapping.version}, c._record_sha256, c._unmapped::json
        from _checked c join _files f on f.seq = c._seq where c._reason is null"""
    )
    hint = "tenant_id" if "tenant_id" in source.columns else "null"
    fields = ", ".join(f"{_q(n)}: {n}" for n in source.columns)
    con.execute(
        f"""insert into raw.quarantine (source, file, line, field, reason_code, reason,
            tenant_hint, record, quarantined_at, entity)
        select {_q(mapping.name)}, _file, _line, nullif(_field, ''), _code, _reason,
               {hint},
               coalesce(_record, to_json({{{fields}, '_unmapped': _unmapped::json}})::varchar),
               now()::timestamp, {_q(source.name)}
        from _checked where _reason is not null"""
    )


def quarantine_files(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    files: list[tuple[str, str, str, str | None, dict[str, object]]],
) -> None:
    """Quarantine files refused whole, as (file, reason code, reason, declared tenant, facts):
    one row each, without a line or field; its record holds what identifies the file (its size,
    a link's target), never its content."""
    for file, code, reason, declared, facts in files:
        con.execute(
            "insert into raw.quarantine (source, file, line, field, reason_code, reason, "
            "tenant_hint, record, quarantined_at, entity) "
            "values (?, ?, null, null, ?, ?, ?, ?, now()::timestamp, ?)",
            [
                mapping.name,
                file,
                code,
                reason,
                declared,
                json.dumps(facts) if facts else None,
                mapping.entity.name,
            ],
        )


def routed_counts(
    con: duckdb.DuckDBPyConnection, mapping: Mapping
) -> tuple[dict[str, int], dict[str, int]]:
    """Rows this load wrote, counted where they landed: per sha256 in the raw table, per file in
    the quarantine (both stamped with the transaction's time, so earlier loads do not count)."""
    loaded = con.execute(
        f"""select _sha256, count(*) from {mapping.entity.raw_table}
        where _loaded_at = now()::timestamp and _source = ?
          and _sha256 in (select sha256 from _files)
        group by all""",
        [mapping.name],
    ).fetchall()
    quarantined = con.execute(
        """select file, count(*) from raw.quarantine
        where source = ? and quarantined_at = now()::timestamp
          and file in (select file from _files)
        group by all""",
        [mapping.name],
    ).fetchall()
    return dict(loaded), dict(quarantined)
