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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from exports.bundle import StagedBundle
from exports.contract import FORMULA_START, PLACEHOLDERS, SQL_TOKEN, Recogniser, sql_marked
from exports.scope import BUNDLE_RELATIONS, RELATIONS, TenantScope, tenant_identifiers
from tenantproof.core.catalog import vocabulary_columns
from tenantproof.core.home import EXPECTATIONS_DIR
from tenantproof.core.policy import Policy
from tenantproof.core.warehouse import sql_literal

ISOLATION_SUITE = "tenant_isolation"
ROW_COUNT_SUITE = "row_counts"
PII_SUITE = "pii_redaction"


@dataclass
class ExpectationOutcome:
    suite: str
    expectation: str
    column: str
    batch: str  # file kind, or profile/kind
    success: bool
    element_count: int
    unexpected_count: int


@dataclass
class ValidationResult:
    success: bool
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    file_rows: dict[str, int] = field(default_factory=dict)  # staged file path -> rows read
    # Tenants involved in isolation failures (owners of failing files, foreign tenants found);
    # ids only, for the isolation incident log, never written into a bundle.
    isolation_tenants: list[str] = field(default_factory=list)

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

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
        result = self.batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format="SUMMARY"
        )
        for item in result.results:
            config = item.expectation_config
            kwargs = config.kwargs
            column = kwargs.get("column") or f"{kwargs.get('column_A')}={kwargs.get('column_B')}"
            stats = item.result or {}
            self.outcomes.append(
                ExpectationOutcome(
                    suite=suite_name,
                    expectation=config.type,
                    column=column,
                    batch=batch,
                    success=bool(item.success),
                    element_count=int(stats.get("element_count") or 0),
                    unexpected_count=int(stats.get("unexpected_count") or 0),
                )
            )


@dataclass
class _KindFrames:
    isolation: pd.DataFrame  # distinct (file, tenant_id) with expected tenant, foreign mentions
    pii: dict[str, pd.DataFrame]  # profile -> distinct values of each PII column
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


def _kind_frames(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    bundles: list[StagedBundle],
    recogniser: Recogniser,
    pii_columns: list[str],
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
                )
            )
    expect = pd.DataFrame(
        expect_rows,
        columns=["file_idx", "file", "format", "expected_tenant", "own_marked", "profile"],
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
    csv_columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    pii = [c for c in pii_columns if c in columns]
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
                          auto_detect = false, columns = {csv_columns}) f
            join _expect e on e.file = f.filename""",
            [parquet_files, csv_files],
        )
        text = "concat_ws(chr(31), " + ", ".join(text_cols) + ")" if text_cols else "''"
        for placeholder in PLACEHOLDERS:  # the product's own words name no tenant
            text = f"replace({text}, {sql_literal(placeholder)}, chr(65533))"
        # The rows that hold the first word of some identifier whole (a superset), then the
        # exact rule on those rows only: tokens marked, identifiers marked, the bundle tenant's
        # own unmarked; what stays marked names another tenant.
        mentions: dict[int, int] = {}
        mentioned: dict[str, list[str]] = {}
        for i, count, named in con.execute(
            f"""with candidates as (
                    select s.file_idx, {text} as text
                    from _staged s
                    where s.file_idx in (select file_idx from _expect where format = 'parquet')
                      and regexp_matches({text}, $prefilter)
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
        # The CSV twin holds the Parquet rows exactly, as text and neutralised against formulas:
        # one order-free digest per file shows it, so the word scan above need not read it.
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
                    expect_rows[i][1],
                    tenant_id,
                    expect_rows[i][3],
                    int(mentions.get(i, 0)),
                )
                for i, tenant_id, _ in pairs
            ],
            columns=["file", "tenant_id", "expected_tenant", "foreign_mentions"],
        )
        rows = {r[1]: 0 for r in expect_rows}
        for i, _, n in pairs:
            rows[expect_rows[i][1]] += int(n)
        pii_frames: dict[str, pd.DataFrame] = {}
        for profile in sorted({b.redaction_profile for b in bundles}):
            values = {
                c: [
                    r[0]
                    for r in con.execute(
                        f"select distinct s.{c} from _staged s join _expect e "
                        "on e.file_idx = s.file_idx where e.profile = ?",
                        [profile],
                    ).fetchall()
                ]
                for c in pii
            }
            longest = max((len(v) for v in values.values()), default=0)
            pii_frames[profile] = pd.DataFrame(
                {c: v + [None] * (longest - len(v)) for c, v in values.items()}, dtype=object
            )
        con.execute("drop table _staged")
    finally:
        con.unregister("_expect")
    twins = {}
    for i in range(0, len(expect_rows), 2):  # each bundle's Parquet file, then its CSV twin
        parquet, csv = expect_rows[i][1], expect_rows[i + 1][1]
        twins[parquet], twins[csv] = csv, parquet
    return _KindFrames(isolation, pii_frames, rows, digests, twins, mentioned)


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
    scope: TenantScope, bundles: list[StagedBundle], policy: Policy
) -> ValidationResult:
    """Run the isolation, redaction and row-count suites over every staged file of the run."""
    con = scope.con
    recogniser = Recogniser(tenant_identifiers(con))
    isolation = load_suite_file(ISOLATION_SUITE)
    methods = load_suite_file(PII_SUITE)["methods"]
    pii_columns = sorted({c for rules in policy.redaction.values() for c in rules})
    validator = _Validator()
    count_rows = []
    file_rows: dict[str, int] = {}
    involved: set[str] = set()
    for rel in BUNDLE_RELATIONS:
        frames = _kind_frames(con, rel.name, bundles, recogniser, pii_columns)
        file_rows.update(frames.rows)
        involved |= frames.isolation_tenants(recogniser)
        expected = _expected_counts(scope, rel.name)
        for b in bundles:
            want = expected.get((b.tenant_id, b.period if rel.periodic else None), 0)
            for fmt in ("parquet", "csv"):
                path = str(b.files[f"{rel.name}.{fmt}"])
                count_rows.append(
                    (
                        f"{rel.name}.{fmt}",
                        file_rows[path],
                        want,
                        frames.digests.get(path, "0:0"),
                        frames.digests.get(frames.twins[path], "0:0"),
                    )
                )
        validator.run(ISOLATION_SUITE, isolation["expectations"], frames.isolation, rel.name)
        for profile, values in frames.pii.items():
            if values.empty:
                continue
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
    row_counts = load_suite_file(ROW_COUNT_SUITE)
    counts = pd.DataFrame(
        count_rows,
        columns=["file", "rows_in_file", "rows_expected", "content_digest", "twin_digest"],
    )
    validator.run(ROW_COUNT_SUITE, row_counts["expectations"], counts, "all")
    outcomes = validator.outcomes
    return ValidationResult(
        success=all(o.success for o in outcomes),
        outcomes=outcomes,
        file_rows=file_rows,
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
