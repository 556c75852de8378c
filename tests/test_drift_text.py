"""The sentence of each drift kind, from a flag's detail columns (tenantproof/core/drift_text.py):
the texts fct_drift_flags used to build in SQL, word for word, from rows as DuckDB, pyarrow and
pandas hand them over."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantproof.analytics.snapshot import drift_kinds
from tenantproof.core.drift_text import SENTENCES, flag_sentence, round_1

AT = dt.datetime(2026, 11, 15, 8, 30, 0)
LATER = dt.datetime(2026, 11, 16, 9, 45, 30)
WAREHOUSE = duckdb.connect()

CASES: list[tuple[dict[str, Any], str]] = [
    (
        {
            "kind": "evidence_stale",
            "event_id": "ev-1",
            "evidence_origin": "tenant",
            "event_at": AT,
            "age_days": 120.0,
            "sla_days": 90,
        },
        "last evidence ev-1 (own) observed 2026-11-15 08:30:00, 120.0 days old; SLA 90 days",
    ),
    (
        {
            "kind": "evidence_stale",
            "event_id": "ev-2",
            "evidence_origin": "shared_service",
            "service_id": "svc-observability",
            "event_at": AT,
            "age_days": 30.25,
            "sla_days": 30,
        },
        "last evidence ev-2 (shared service svc-observability) observed 2026-11-15 08:30:00, "
        "30.3 days old; SLA 30 days",
    ),
    (
        {"kind": "evidence_missing", "sla_days": 14},
        "no evidence, own or inherited from a shared service; SLA 14 days",
    ),
    (
        {
            "kind": "retention_violated",
            "retention_days": 365,
            "expired_rows": 2,
            "audit_events_rows": 1,
            "access_history_rows": 1,
            "evidence_rows": 0,
            "event_at": AT,
        },
        "2 row(s) held past the 365-day retention window (audit_events 1, access_history 1, "
        "evidence 0); oldest 2026-11-15 08:30:00",
    ),
    (
        {
            "kind": "tenant_isolation_misconfigured",
            "detected_by": "export_validation",
            "failed_checks": "row_counts|tenant_isolation",
            "failed_expectations": 1,
            "unexpected_rows": 3,
        },
        "export validation failed (row_counts|tenant_isolation): 1 expectation(s), "
        "3 unexpected row(s); the failing bundles were withheld",
    ),
    (
        {
            "kind": "tenant_isolation_misconfigured",
            "detected_by": "tenant_scope",
            "failed_checks": "tenant_scope",
            "failed_expectations": 0,
            "unexpected_rows": 0,
        },
        "the tenant scope returned rows outside the scope; the export stopped",
    ),
    (
        {
            "kind": "shared_service_change_unevidenced",
            "action": "config.rotate_keys",
            "service_id": "svc-observability",
            "event_id": "ae-rotate-obs",
            "event_at": AT,
            "sla_hours": 24,
        },
        "config.rotate_keys on svc-observability at 2026-11-15 08:30:00 (event ae-rotate-obs): "
        "no evidence from svc-observability observed since; due within 24 h",
    ),
    (
        {
            "kind": "admin_action_without_reason",
            "action": "impersonation",
            "event_id": "ah-1",
            "event_at": AT,
        },
        "impersonation access ah-1 at 2026-11-15 08:30:00 has no reason",
    ),
    (
        {
            "kind": "incident_notification_overdue",
            "event_id": "inc-1",
            "incident_severity": "high",
            "event_at": AT,
            "notified_at": None,
            "hours_past_deadline": 2.25,
            "sla_hours": 72,
            "tenant_count": 1,
        },
        "incident inc-1 (high) detected 2026-11-15 08:30:00: not notified, 2.3 h past the "
        "deadline (SLA 72 h)",
    ),
    (
        {
            "kind": "incident_notification_overdue",
            "event_id": "inc-2",
            "incident_severity": None,
            "event_at": AT,
            "notified_at": LATER,
            "hours_past_deadline": 1.25,
            "sla_hours": 24,
            "tenant_count": 2,
        },
        "incident inc-2 (?) detected 2026-11-15 08:30:00: notified 2026-11-16 09:45:30, 1.3 h "
        "past the deadline (shortest SLA 24 h)",
    ),
]


@pytest.mark.parametrize(("row", "sentence"), CASES, ids=[c[0]["kind"] for c in CASES])
def test_each_kind_reads_as_before(row: dict[str, Any], sentence: str) -> None:
    assert flag_sentence(row) == sentence


def test_every_drift_kind_has_a_sentence_and_an_unknown_one_is_refused() -> None:
    assert set(SENTENCES) == {k.kind for k in drift_kinds()}
    assert {c[0]["kind"] for c in CASES} == set(SENTENCES)
    with pytest.raises(KeyError):
        flag_sentence({"kind": "not_a_kind"})


def test_a_pandas_record_reads_like_the_warehouse_row() -> None:
    """The dashboard's rows: nullable integers become floats, missing values NaN or NaT."""
    rows = [row for row, _ in CASES]
    frame = pd.DataFrame(rows)
    for record, (_, sentence) in zip(frame.to_dict("records"), CASES, strict=True):
        assert flag_sentence(record) == sentence


@settings(max_examples=300, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False)
    | st.integers(0, 10**6).map(lambda n: n / 20)
)
def test_rounding_matches_the_warehouse(value: float) -> None:
    """round_1 against DuckDB's round(x, 1), which the mart's texts were written with."""
    (text,) = WAREHOUSE.execute("select cast(round(?::double, 1) as varchar)", [value]).fetchone()
    assert repr(round_1(value)) == text
