"""The analytics snapshot: the freshness, drift and maturity marts published as Parquet.

Readers that must not open the warehouse (DESIGN principle 7: the dashboard, the drift sensor)
read ``<home>/analytics/*.parquet`` instead. A flag keeps the time it was first published
(``first_seen_at``) from one snapshot to the next, which is how "new" flags are told apart. Also
the pure helpers the dashboard and the asset checks use: filtering by tenant and time window,
the freshness matrix, the trend, and per-kind check outcomes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tenantproof.core.catalog import models_with
from tenantproof.core.files import replacing, write_atomic
from tenantproof.core.home import SEEDS_DIR
from tenantproof.core.policy import read_seed

SNAPSHOT_META = "snapshot.json"
# The marts published (dbt meta ``analytics_snapshot``: the file's name, its order, the columns
# kept or left out; incident summaries, free text, stay out).


def snapshot_tables() -> dict[str, str]:
    """snapshot file name -> its query over the mart, from the models' meta."""
    out = {}
    for model, spec in models_with("analytics_snapshot"):
        columns = ", ".join(spec["columns"]) if spec.get("columns") else "*"
        if spec.get("exclude"):
            columns += " exclude (" + ", ".join(spec["exclude"]) + ")"
        order = ", ".join(spec["order_by"])
        out[spec["name"]] = f"select {columns} from {model.relation} order by {order}"
    return out


def snapshot_models() -> list[str]:
    """The dbt models the snapshot reads, for the asset's lineage."""
    return [model.name for model, _ in models_with("analytics_snapshot")]


STATUSES = ("fresh", "stale", "missing")


@dataclass(frozen=True)
class DriftKind:
    kind: str
    check_name: str
    severity: str
    description: str


def drift_kinds(seeds_dir: Path = SEEDS_DIR) -> list[DriftKind]:
    """The drift kinds (seeds/drift_kinds.csv): the same list dbt tests the flags against."""
    return [
        DriftKind(r["kind"], r["check_name"], r["severity"], r["description"])
        for r in read_seed(seeds_dir / "drift_kinds.csv")
    ]


def snapshot_path(analytics_dir: Path, name: str) -> Path:
    return analytics_dir / f"{name}.parquet"


def _write_atomically(table: pa.Table, target: Path) -> None:
    with replacing(target) as tmp:
        pq.write_table(table, tmp)


def _first_seen(flags: pa.Table, previous: Path, now: datetime) -> pa.Table:
    """Carry each flag's first publication time over from the previous snapshot."""
    seen: dict[str, datetime] = {}
    if previous.exists():
        old = pq.read_table(previous, columns=["flag_id", "first_seen_at"]).to_pylist()
        seen = {r["flag_id"]: r["first_seen_at"] for r in old}
    stamp = now.replace(tzinfo=None)
    values = [seen.get(flag_id, stamp) for flag_id in flags.column("flag_id").to_pylist()]
    return flags.append_column("first_seen_at", pa.array(values, pa.timestamp("us")))


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, analytics_dir: Path, now: datetime | None = None
) -> dict[str, Any]:
    """Write every snapshot table, then snapshot.json (last, so a reader that sees the new
    metadata sees the new tables). Returns the metadata."""
    # to the second: first_seen_at and generated_at (the sensor's cursor) must compare equal
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    analytics_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    as_of = None
    for name, query in snapshot_tables().items():
        table = con.sql(query).to_arrow_table()
        if name == "drift_flags":
            table = _first_seen(table, snapshot_path(analytics_dir, name), now)
        _write_atomically(table, snapshot_path(analytics_dir, name))
        rows[name] = table.num_rows
        if name == "evidence_freshness" and table.num_rows:
            as_of = pc.max(table.column("as_of")).as_py()
    meta = {
        "generated_at": now.replace(tzinfo=None).isoformat(timespec="seconds"),
        "as_of": as_of.isoformat(timespec="seconds") if as_of else None,
        "rows": rows,
    }
    write_atomic(analytics_dir / SNAPSHOT_META, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def read_meta(analytics_dir: Path) -> dict[str, Any] | None:
    path = analytics_dir / SNAPSHOT_META
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_table(analytics_dir: Path, name: str) -> pd.DataFrame:
    return pq.read_table(snapshot_path(analytics_dir, name)).to_pandas()


# -- asset checks: one outcome per drift kind --


@dataclass
class KindOutcome:
    kind: DriftKind
    open_flags: int = 0
    new_flags: int = 0
    impacted_tenants: list[str] = field(default_factory=list)
    new_impacted_tenants: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.open_flags == 0


def _tenants_of(flags: pa.Table) -> list[str]:
    if flags.num_rows == 0:
        return []
    return sorted(set(pc.list_flatten(flags.column("affected_tenants")).to_pylist()))


def kind_outcomes(
    flags: pa.Table, previous_flag_ids: Iterable[str], kinds: Sequence[DriftKind]
) -> list[KindOutcome]:
    """Per kind: open flags, those not in the previous snapshot, and the tenants they affect
    (ids only: a check's metadata must carry no personal data)."""
    previous = set(previous_flag_ids)
    out = []
    for kind in kinds:
        of_kind = flags.filter(pc.equal(flags.column("kind"), kind.kind))
        ids = of_kind.column("flag_id").to_pylist()
        new = of_kind.filter(pa.array([i not in previous for i in ids], pa.bool_()))
        out.append(
            KindOutcome(
                kind,
                open_flags=of_kind.num_rows,
                new_flags=new.num_rows,
                impacted_tenants=_tenants_of(of_kind),
                new_impacted_tenants=_tenants_of(new),
            )
        )
    return out


def previous_flag_ids(analytics_dir: Path) -> set[str]:
    path = snapshot_path(analytics_dir, "drift_flags")
    if not path.exists():
        return set()
    return set(pq.read_table(path, columns=["flag_id"]).column(0).to_pylist())


# -- the dashboard's views (pure, so they are tested without Streamlit) --


def natural_key(text: str) -> list[int | str]:
    """Sort t2 before t10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def flags_for(flags: pd.DataFrame, tenants: Sequence[str]) -> pd.DataFrame:
    """Flags affecting any of the tenants; a global flag lists only the chosen tenants among
    the ones it affects (with the total), so a filtered view names no other tenant."""
    chosen = set(tenants)
    rows = flags.copy()
    rows["affected_total"] = rows["affected_tenants"].map(len)
    rows["affected_tenants"] = rows["affected_tenants"].map(
        lambda ts: sorted(t for t in ts if t in chosen)
    )
    return rows[rows["affected_tenants"].map(len) > 0].reset_index(drop=True)


def in_window(frame: pd.DataFrame, column: str, start: datetime, end: datetime) -> pd.DataFrame:
    values = pd.to_datetime(frame[column])
    return frame[(values >= pd.Timestamp(start)) & (values <= pd.Timestamp(end))]


def freshness_matrix(freshness: pd.DataFrame, tenants: Sequence[str]) -> pd.DataFrame:
    """Controls x tenants, each cell the status ('' where the control does not apply)."""
    rows = freshness[freshness["tenant_id"].isin(list(tenants))]
    matrix = rows.pivot(index="control_id", columns="tenant_id", values="status").fillna("")
    ordered = [t for t in tenants if t in matrix.columns]
    return matrix.reindex(columns=ordered).sort_index()


def trend(history: pd.DataFrame, tenants: Sequence[str]) -> pd.DataFrame:
    """Per day, how many tenant x control pairs were fresh, stale or missing."""
    rows = history[history["tenant_id"].isin(list(tenants))]
    counts = rows.groupby(["snapshot_date", "status"]).size().rename("controls").reset_index()
    counts["snapshot_date"] = pd.to_datetime(counts["snapshot_date"])
    return counts


STATUS_STYLE = {
    "fresh": "background:#e3f9e5;color:#05400a",
    "stale": "background:#fff3c4;color:#8d2b0b",
    "missing": "background:#ffe3e3;color:#610316",
    "": "background:#f5f7fa;color:#9aa5b1",
}


def matrix_html(matrix: pd.DataFrame) -> str:
    """The freshness matrix as a plain HTML table with inline styles: readable in the page's
    DOM (a canvas grid is not), printable, and nothing to load."""
    cell = "padding:4px 10px;border:1px solid #e4e7eb;text-align:center;font-weight:600"
    head = "".join(
        f'<th style="{cell};background:#f5f7fa">{html.escape(str(t))}</th>' for t in matrix.columns
    )
    rows = []
    for control, values in matrix.iterrows():
        cells = "".join(
            f'<td style="{cell};{STATUS_STYLE.get(v, STATUS_STYLE[""])}">{html.escape(v or "n/a")}'
            "</td>"
            for v in values
        )
        rows.append(
            f'<tr><th style="{cell};text-align:left">{html.escape(str(control))}</th>{cells}</tr>'
        )
    return (
        '<table class="freshness-matrix" style="border-collapse:collapse;font-size:0.85rem">'
        f'<thead><tr><th style="{cell};text-align:left">control</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
