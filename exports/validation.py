"""Great Expectations on the exact files about to be published.

All staged files of a run are validated as a few batches, not one validation per file
(PITFALLS: ~26 ms each would be minutes at 1,000 tenants): per file kind, every Parquet and CSV
file is read on its own (no hive partitioning, so a leaked row keeps its own tenant_id) and
DuckDB reduces the rows to what each expectation judges: the distinct (file, tenant_id) pairs
with the tenant expected from the file's bundle path and the file's count of other tenants'
identifiers; the distinct values of each PII column per redaction profile; rows per file. An
expectation holds on every row exactly when it holds on these distinct values, and GE stays
fast at any volume. The suites live in ``expectations/``. Results keep counts only: no cell
value leaves this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from exports.bundle import StagedBundle
from exports.contract import FORMULA_START, PLACEHOLDERS, SQL_TOKEN, Recogniser, sql_marked
from exports.scope import BUNDLE_RELATIONS, RELATIONS, TenantScope, tenant_identifiers
from tenantproof.core.catalog import (
    free_text_hint,
    free_text_pii,
    pii_columns,
    vocabulary_columns,
)
from tenantproof.core.home import EXPECTATIONS_DIR
from tenantproof.core.policy import Policy
from tenantproof.core.warehouse import sql_literal

ISOLATION_SUITE = "tenant_isolation"
ROW_COUNT_SUITE = "row_counts"
PII_SUITE = "pii_redaction"
FRESHNESS_REPORT_BATCH = "freshness_report"  # the isolation suite on each bundle's page
# The longest CSV line read back (DuckDB's default is 2 MB): rows whose every cell is as big as
# ingest accepts (tenantproof.core.sources.MAX_CELL_BYTES), with room to spare for quoting and
# placeholders; DuckDB allocates for the lines it meets, not for this bound.
CSV_MAX_LINE_BYTES = 1024 * 1024 * 1024


@dataclass
class ExpectationOutcome:
    suite: str
    expectation: str
    column: str
    batch: str  # file kind, or profile/kind
    success: bool
    element_count: int
    unexpected_count: int
    # The bundles (StagedBundle.key) whose files hold the unexpected rows; empty when the
    # failure cannot be laid at any bundle's door (then every bundle of the run fails with it).
    bundles: tuple[str, ...] = ()


@dataclass
class ValidationResult:
    success: bool
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    file_rows: dict[str, int] = field(default_factory=dict)  # staged file path -> rows read
    # staged file path -> its rows and an order-free digest of their content (row_counts suite)
    file_digests: dict[str, str] = field(default_factory=dict)
    # Tenants involved in isolation failures (owners of failing files, foreign tenants found);
    # ids only, for the isolation incident log, never written into a bundle.
    isolation_tenants: list[str] = field(default_factory=list)

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def failed_bundles(self, keys: Iterable[str]) -> list[str]:
        """The bundles among ``keys`` that failed an expectation: those its unexpected rows
        were found in, or all of them for a failure no bundle can be named for."""
        keys = list(keys)
        failed: set[str] = set()
        for o in self.failures():
            failed.update(o.bundles if o.bundles else keys)
        return [k for k in keys if k in failed]

    def passed_for(self, outcome: ExpectationOutcome, bundle: str) -> bool:
        """The expectation held on this bundle's files."""
        return outcome.success or (bool(outcome.bundles) and bundle not in outcome.bundles)

    def summary(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "expectations_evaluated": len(self.outcomes),
            "expectations_failed": len(self.failures()),
            "suites": sorted({o.suite for o in self.outcomes}),
        }


def load_suite_file(name: str, directory: Path = EXPECTATIONS_DIR) -> dict[str, Any]:
    return json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))


class _Validator:
    """One ephemeral GE context, reused for every batch of the run."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_pandas("staged_bundles")
        self.batch_definition = source.add_dataframe_asset(
            "staged_files"
        ).add_batch_definition_whole_dataframe("all_rows")
        self.outcomes: list[ExpectationOutcome] = []

    def run(
        self, suite_name: str, expectations: list[dict], frame: pd.DataFrame, batch: str
    ) -> None:
        suite = self.gx.ExpectationSuite(name=f"{suite_name}:{batch}", expectations=expectations)
        if len(suite.expectations) != len(expectations):
            # GE logs and drops an expectation it cannot build; a suite must never shrink.
            raise ValueError(f"suite {suite_name}: an expectation could not be built")
        # COMPLETE, with the bundle column as the index: which bundles' rows were unexpected
        # (frames hold ids, counts and redacted values only; nothing of it is kept but the ids)
        result = self.batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["bundle"],
                "return_unexpected_index_query": False,
            },
        )
        for item in result.results:
            config = item.expectation_config
            kwargs = config.kwargs
            column = kwargs.get("column") or f"{kwargs.get('column_A')}={kwargs.get('column_B')}"
            stats = item.result or {}
            bundles = sorted(
                {
                    str(row["bundle"])
                    for row in stats.get("unexpected_index_list") or []
                    if isinstance(row, dict) and row.get("bundle") is not None
                }
            )
            self.outcomes.append(
                ExpectationOutcome(
                    suite=suite_name,
                    expectation=config.type,
                    column=column,
                    batch=batch,
                    success=bool(item.success),
                    element_count=int(stats.get("element_count") or 0),
                    unexpected_count=int(stats.get("unexpected_count") or 0),
                    bundles=tuple(bundles) if not item.success else (),
                )
            )


@dataclass
class _KindFrames:
    isolation: pd.DataFrame  # distinct (file, tenant_id) with expected tenant, foreign mentions
    pii: dict[str, pd.DataFrame]  # profile -> distinct values of each PII column, per bundle
    free_text: dict[str, pd.DataFrame]  # profile -> per Parquet file, matches of each PII kind
    rows: dict[str, int]  # file -> rows read
    digests: dict[str, str]  # file -> rows and an order-free digest of their content
    twins: dict[str, str]  # file -> the other format's file of the same bundle and kind
    mentioned: dict[str, list[str]]  # Parquet file -> other tenants' identifiers its text names

    def isolation_tenants(self, index: Recogniser) -> set[str]:
        """The tenants an isolation failure of these files involves: each failing file's owner,
        the foreign tenant ids in it and the tenants its text names."""
        involved: set[str] = set()
        for row in self.isolation.itertuples(index=False):
            named = self.mentioned.get(row.file, [])
            if row.tenant_id is None or row.tenant_id != row.expected_tenant or named:
                involved.add(row.expected_tenant)
                if row.tenant_id is not None:
                    involved.add(row.tenant_id)
                involved.update(index.tenants_named(named))
        return involved


def _free_text_matches(
    con: duckdb.DuckDBPyConnection,
    free_text_cols: list[str],
    expect_rows: list[tuple],
    checked: dict[str, list[str]],
) -> dict[int, dict[str, int]]:
    """Per Parquet file, the matches of each kind of free-text personal data its profile must not
    keep, found with the scrub's own patterns (dbt_project.yml vars.free_text_pii): rows that
    match, or for a kind with a check, distinct candidates that pass it."""
    kinds = [k for k in free_text_pii() if any(k.kind in c for c in checked.values())]
    if not free_text_cols or not kinds:
        return {}
    text = "concat_ws(chr(31), " + ", ".join(free_text_cols) + ")"
    params: dict[str, str] = {"prefilter": free_text_hint()}  # cheap: one scan of hints
    measures = []
    for i, k in enumerate(kinds):
        params[f"k{i}"] = k.bounded
        checked_here = f"list_contains(e.checked, {sql_literal(k.kind)})"
        if k.check is None:
            measures.append(
                f"count(*) filter (where {checked_here} and regexp_matches(c.text, $k{i}))"
            )
        else:
            measures.append(
                f"list_distinct(flatten(list(regexp_extract_all(c.text, $k{i}, 2)) "
                f"filter (where {checked_here})))"
            )
    checked_frame = pd.DataFrame(
        [(i, checked[r[5]]) for i, r in enumerate(expect_rows) if r[2] == "parquet"],
        columns=["file_idx", "checked"],
    )
    con.register("_checked", checked_frame)
    try:
        found = con.execute(
            f"""with candidates as (
                    select s.file_idx, {text} as text from _staged s
                    where s.file_idx in (select file_idx from _checked)
                      and regexp_matches({text}, $prefilter)
                )
                select c.file_idx, {", ".join(measures)}
                from candidates c join _checked e on e.file_idx = c.file_idx
                group by 1""",
            params,
        ).fetchall()
    finally:
        con.unregister("_checked")
    matches: dict[int, dict[str, int]] = {}
    for i, *values in found:
        counts = matches.setdefault(i, {})
        for k, value in zip(kinds, values, strict=True):
            if k.check is not None:
                value = sum(1 for candidate in value or [] if k.accepts(candidate))
            counts[k.kind] = counts.get(k.kind, 0) + int(value or 0)
    return matches


def _kind_frames(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    bundles: list[StagedBundle],
    recogniser: Recogniser,
    policy: Policy,
) -> _KindFrames:
    """Read every staged file of one kind, both formats, each file on its own as written, and
    reduce it to what the suites judge: DuckDB reads and aggregates, GE judges the result."""
    expect_rows = []
    for b in bundles:
        for fmt in ("parquet", "csv"):
            path = str(b.files[f"{kind}.{fmt}"])
            expect_rows.append(
                (
                    len(expect_rows),
                    path,
                    fmt,
                    b.tenant_id,
                    "(?i)" + recogniser.own_marked(b.tenant_id),
                    b.redaction_profile,
                    b.key,
                )
            )
    expect = pd.DataFrame(
        expect_rows,
        columns=[
            "file_idx",
            "file",
            "format",
            "expected_tenant",
            "own_marked",
            "profile",
            "bundle",
        ],
    )
    parquet_files = [r[1] for r in expect_rows if r[2] == "parquet"]
    csv_files = [r[1] for r in expect_rows if r[2] == "csv"]
    schema = con.execute(
        "describe select * from read_parquet(?, hive_partitioning = false)", [parquet_files[:1]]
    ).fetchall()
    columns = [r[0] for r in schema]
    varchar_cols = {r[0] for r in schema if r[1] == "VARCHAR"}
    # Text that could name a tenant: typed values (times, flags, numbers) cannot, tenant_id is
    # judged on its own, and the product's vocabulary (region, period, control ids...) is not
    # a tenant's data (dbt_project.yml, vocabulary_columns).
    vocabulary = vocabulary_columns()
    text_cols = [
        c for c in columns if c in varchar_cols and c != "tenant_id" and c.lower() not in vocabulary
    ]
    # Free text: the text columns that are not PII columns (those follow their own method).
    structured = pii_columns()
    free_text_cols = [c for c in text_cols if c.lower() not in structured]
    csv_columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    pii = [
        c for c in sorted({c for rules in policy.redaction.values() for c in rules}) if c in columns
    ]
    profiles = sorted({b.redaction_profile for b in bundles})
    checked = {profile: policy.free_text_redacted(profile) for profile in profiles}
    con.register("_expect", expect)
    try:
        con.execute(
            f"""create or replace temp table _staged as
            select e.file_idx, {", ".join(f"f.{c}::varchar as {c}" for c in columns)}
            from read_parquet(?, filename = true, hive_partitioning = false) f
            join _expect e on e.file = f.filename
            union all
            select e.file_idx, {", ".join(f"f.{c}" for c in columns)}
            from read_csv(?, filename = true, hive_partitioning = false, header = true,
                          auto_detect = false, columns = {csv_columns},
                          max_line_size = {CSV_MAX_LINE_BYTES}) f
            join _expect e on e.file = f.filename""",
            [parquet_files, csv_files],
        )
        # a value that is the row's own tenant id names no one else (a tenant id is one token)
        text = (
            "concat_ws(chr(31), "
            + ", ".join(f"case when {c} = tenant_id then null else {c} end" for c in text_cols)
            + ")"
            if text_cols
            else "''"
        )
        # the product's own words name no tenant: neutralised on the pre-filter's rows only
        neutral = "s.text"
        for placeholder in PLACEHOLDERS:
            neutral = f"replace({neutral}, {sql_literal(placeholder)}, chr(65533))"
        # The rows that hold the first word of some identifier whole (a superset), then the
        # exact rule on those rows only: tokens marked, identifiers marked, the bundle tenant's
        # own unmarked; what stays marked names another tenant.
        mentions: dict[int, int] = {}
        mentioned: dict[str, list[str]] = {}
        for i, count, named in con.execute(
            f"""with candidates as (
                    select s.file_idx, {neutral} as text
                    from (select file_idx, {text} as text from _staged) s
                    where s.file_idx in (select file_idx from _expect where format = 'parquet')
                      and regexp_matches(s.text, $prefilter)
                ), found as (
                    select c.file_idx,
                           regexp_extract_all(
                               regexp_replace({sql_marked("c.text")},
                                   e.own_marked, '\\1', 'g'),
                               '\\x01([^\\x02]*)\\x02', 1) as named
                    from candidates c join _expect e on e.file_idx = c.file_idx
                )
                select file_idx, sum(len(named)),
                       list_distinct(list_transform(flatten(list(named)),
                                                    lambda x: replace(x, chr(3), '')))
                from found group by 1""",
            {
                "prefilter": "(?i)" + recogniser.sql_prefilter(),
                "token": SQL_TOKEN,
                "identifiers": "(?i)" + recogniser.sql_alternation(),
            },
        ).fetchall():
            mentions[i] = int(count)
            if count:
                mentioned[expect_rows[i][1]] = named
        free_text = _free_text_matches(con, free_text_cols, expect_rows, checked)
        # The CSV twin holds the Parquet rows exactly, as text and neutralised against formulas:
        # one order-free digest per file shows it, so the scans above need not read it.
        starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
        cells = []
        for c in columns:
            cell = f"coalesce(s.{c}, '')"
            if c in varchar_cols:
                cell = (
                    f"case when e.format = 'parquet' and left({cell}, 1) in ({starts}) "
                    f"then chr(39) || {cell} else {cell} end"
                )
            cells.append(cell)
        digests = {
            expect_rows[i][1]: str(d)
            for i, d in con.execute(
                f"""select s.file_idx,
                       count(*) || ':' || sum(hash(concat_ws(chr(30), {", ".join(cells)}))::hugeint)
                from _staged s join _expect e on e.file_idx = s.file_idx group by 1"""
            ).fetchall()
        }
        pairs = con.execute(
            "select file_idx, tenant_id, count(*) from _staged group by all"
        ).fetchall()
        isolation = pd.DataFrame(
            [
                (
                    expect_rows[i][6],
                    expect_rows[i][1],
                    tenant_id,
                    expect_rows[i][3],
                    int(mentions.get(i, 0)),
                )
                for i, tenant_id, _ in pairs
            ],
            columns=["bundle", "file", "tenant_id", "expected_tenant", "foreign_mentions"],
        )
        rows = {r[1]: 0 for r in expect_rows}
        for i, _, n in pairs:
            rows[expect_rows[i][1]] += int(n)
        pii_frames: dict[str, pd.DataFrame] = {}
        free_text_frames: dict[str, pd.DataFrame] = {}
        for profile in profiles:
            # distinct values of each PII column per bundle, one column filled per row
            parts = []
            for c in pii:
                values = con.execute(
                    f"select distinct e.bundle, s.{c} from _staged s join _expect e "
                    "on e.file_idx = s.file_idx where e.profile = ?",
                    [profile],
                ).fetchall()
                parts.append(pd.DataFrame(values, columns=["bundle", c], dtype=object))
            pii_frames[profile] = pd.concat(
                [pd.DataFrame(columns=["bundle", *pii], dtype=object), *parts], ignore_index=True
            ).astype(object)
            free_text_frames[profile] = pd.DataFrame(
                [
                    (r[6], *(free_text.get(r[0], {}).get(k, 0) for k in checked[profile]))
                    for r in expect_rows
                    if r[2] == "parquet" and r[5] == profile
                ],
                columns=["bundle", *checked[profile]],
            )
        con.execute("drop table _staged")
    finally:
        con.unregister("_expect")
    twins = {}
    for i in range(0, len(expect_rows), 2):  # each bundle's Parquet file, then its CSV twin
        parquet, csv = expect_rows[i][1], expect_rows[i + 1][1]
        twins[parquet], twins[csv] = csv, parquet
    return _KindFrames(isolation, pii_frames, free_text_frames, rows, digests, twins, mentioned)


def _expected_counts(scope: TenantScope, relation: str) -> dict[tuple[str, str | None], int]:
    """Rows per tenant (and period) in the tenant-scoped export model: what the files must hold."""
    rel = RELATIONS[relation]
    query, params = scope.sql(relation)
    period = "period" if rel.periodic else "null"
    return {
        (t, p): n
        for t, p, n in scope.con.execute(
            f"select tenant_id, {period}, count(*) from ({query}) group by all", params
        ).fetchall()
    }


def validate_staged(
    scope: TenantScope,
    bundles: list[StagedBundle],
    policy: Policy,
    page_mentions: dict[str, list[str]] | None = None,
) -> ValidationResult:
    """Run the isolation, redaction and row-count suites over every staged file of the run.
    ``page_mentions``: per bundle, the other tenants' identifiers its freshness page names
    (``exports.freshness_report.write_freshness_reports``), judged by the isolation suite."""
    con = scope.con
    recogniser = Recogniser(tenant_identifiers(con))
    isolation = load_suite_file(ISOLATION_SUITE)
    pii_suite = load_suite_file(PII_SUITE)
    methods = pii_suite["methods"]
    validator = _Validator()
    count_rows = []
    file_rows: dict[str, int] = {}
    file_digests: dict[str, str] = {}
    involved: set[str] = set()
    for rel in BUNDLE_RELATIONS:
        frames = _kind_frames(con, rel.name, bundles, recogniser, policy)
        file_rows.update(frames.rows)
        file_digests.update(frames.digests)
        involved |= frames.isolation_tenants(recogniser)
        expected = _expected_counts(scope, rel.name)
        for b in bundles:
            want = expected.get((b.tenant_id, b.period if rel.periodic else None), 0)
            for fmt in ("parquet", "csv"):
                path = str(b.files[f"{rel.name}.{fmt}"])
                count_rows.append(
                    (
                        b.key,
                        f"{rel.name}.{fmt}",
                        file_rows[path],
                        want,
                        frames.digests.get(path, "0:0"),
                        frames.digests.get(frames.twins[path], "0:0"),
                    )
                )
        validator.run(ISOLATION_SUITE, isolation["expectations"], frames.isolation, rel.name)
        for profile, values in frames.pii.items():
            # every PII column of the profile, and every kind of free-text personal data it
            # does not keep: an empty file passes (nothing in it is unredacted)
            expectations = []
            for column, method in sorted(policy.redaction[profile].items()):
                template = methods[method]
                if template is None or column not in values.columns:
                    continue
                expectations.append(
                    {"type": template["type"], "kwargs": {**template["kwargs"], "column": column}}
                )
            if expectations:
                validator.run(PII_SUITE, expectations, values, f"{profile}/{rel.name}")
            free_text = frames.free_text[profile]
            template = pii_suite["free_text"]
            expectations = [
                {"type": template["type"], "kwargs": {**template["kwargs"], "column": kind}}
                for kind in free_text.columns
                if kind != "bundle"
            ]
            if expectations:
                validator.run(PII_SUITE, expectations, free_text, f"{profile}/{rel.name}")
    pages = pd.DataFrame(
        [
            (b.key, b.tenant_id, b.tenant_id, len((page_mentions or {}).get(b.key, [])))
            for b in bundles
        ],
        columns=["bundle", "tenant_id", "expected_tenant", "foreign_mentions"],
    )
    validator.run(ISOLATION_SUITE, isolation["expectations"], pages, FRESHNESS_REPORT_BATCH)
    for b in bundles:
        named = (page_mentions or {}).get(b.key)
        if named:
            involved |= {b.tenant_id, *recogniser.tenants_named(named)}
    row_counts = load_suite_file(ROW_COUNT_SUITE)
    counts = pd.DataFrame(
        count_rows,
        columns=[
            "bundle",
            "file",
            "rows_in_file",
            "rows_expected",
            "content_digest",
            "twin_digest",
        ],
    )
    validator.run(ROW_COUNT_SUITE, row_counts["expectations"], counts, "all")
    outcomes = validator.outcomes
    return ValidationResult(
        success=all(o.success for o in outcomes),
        outcomes=outcomes,
        file_rows=file_rows,
        file_digests=file_digests,
        isolation_tenants=sorted(involved),
    )


def unreadable_staged_files(error: Exception) -> ValidationResult:
    """The result of a run whose staged files the isolation suite could not read: a failure of
    that suite (nothing unread is published), named by the error's kind, never its text (which
    may quote a row)."""
    return ValidationResult(
        success=False,
        outcomes=[
            ExpectationOutcome(
                suite=ISOLATION_SUITE,
                expectation="staged_files_readable",
                column="*",
                batch=type(error).__name__,
                success=False,
                element_count=0,
                unexpected_count=0,
            )
        ],
    )
