"""The sentence a person reads for a drift flag, written from the flag's typed detail columns.

The marts hold identifiers, times and counts (fct_drift_flags, export.rpt_tenant_drift_flags);
wording belongs to the edge that shows them (the dashboard, each bundle's freshness page), so
it is written here, once. Standard library only: a row is any mapping of column names to values,
from DuckDB, pyarrow's ``to_pylist`` or a pandas record (where a missing value reads as NaN or
NaT and an integer column with nulls as floats). A value the sentence needs but the row lacks
is shown as ``?``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MISSING = "?"


def _null(value: Any) -> bool:
    """None, NaN and pandas' NaT (which, like NaN, is not equal to itself)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    return MISSING if _null(value) else str(value)


def _int(value: Any) -> str:
    return MISSING if _null(value) else str(int(value))


def _when(value: Any) -> str:
    """A time to the second, as the warehouse prints it: '2026-11-15 08:30:00'."""
    if _null(value):
        return MISSING
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)[:19].replace("T", " ")


def round_1(value: float) -> float:
    """To one decimal as the warehouse's ``round(x, 1)`` did in the mart's texts: half away from
    zero on the exact binary value (0.25 -> 0.3, 0.15 -> 0.1, since 0.15 is stored as
    0.1499...), not Python's ``round``, which rounds half to even (0.25 -> 0.2)."""
    exact = Decimal(float(value))
    if not exact.is_finite():
        return float(value)
    return float(exact.quantize(Decimal("0.1"), ROUND_HALF_UP))


def _tenths(value: Any) -> str:
    return MISSING if _null(value) else repr(round_1(value))


def _evidence_stale(row: Mapping[str, Any]) -> str:
    if row.get("evidence_origin") == "tenant":
        origin = "own"
    else:
        service = row.get("service_id")
        origin = "shared service " + (MISSING if _null(service) else str(service))
    return (
        f"last evidence {_text(row.get('event_id'))} ({origin}) observed "
        f"{_when(row.get('event_at'))}, {_tenths(row.get('age_days'))} days old; "
        f"SLA {_int(row.get('sla_days'))} days"
    )


def _evidence_missing(row: Mapping[str, Any]) -> str:
    return (
        f"no evidence, own or inherited from a shared service; SLA {_int(row.get('sla_days'))} days"
    )


def _retention_violated(row: Mapping[str, Any]) -> str:
    return (
        f"{_int(row.get('expired_rows'))} row(s) held past the "
        f"{_int(row.get('retention_days'))}-day retention window "
        f"(audit_events {_int(row.get('audit_events_rows'))}, "
        f"access_history {_int(row.get('access_history_rows'))}, "
        f"evidence {_int(row.get('evidence_rows'))}); oldest {_when(row.get('event_at'))}"
    )


def _tenant_isolation_misconfigured(row: Mapping[str, Any]) -> str:
    if row.get("detected_by") == "tenant_scope":
        return "the tenant scope returned rows outside the scope; the export stopped"
    return (
        f"export validation failed ({_text(row.get('failed_checks'))}): "
        f"{_int(row.get('failed_expectations'))} expectation(s), "
        f"{_int(row.get('unexpected_rows'))} unexpected row(s); the failing bundles were withheld"
    )


def _shared_service_change_unevidenced(row: Mapping[str, Any]) -> str:
    service = _text(row.get("service_id"))
    return (
        f"{_text(row.get('action'))} on {service} at {_when(row.get('event_at'))} "
        f"(event {_text(row.get('event_id'))}): no evidence from {service} observed since; "
        f"due within {_int(row.get('sla_hours'))} h"
    )


def _admin_action_without_reason(row: Mapping[str, Any]) -> str:
    return (
        f"{_text(row.get('action'))} access {_text(row.get('event_id'))} at "
        f"{_when(row.get('event_at'))} has no reason"
    )


def _incident_notification_overdue(row: Mapping[str, Any]) -> str:
    notified = row.get("notified_at")
    notice = "not notified" if _null(notified) else f"notified {_when(notified)}"
    count = row.get("tenant_count")
    shortest = "shortest " if not _null(count) and count > 1 else ""
    return (
        f"incident {_text(row.get('event_id'))} ({_text(row.get('incident_severity'))}) "
        f"detected {_when(row.get('event_at'))}: {notice}, "
        f"{_tenths(row.get('hours_past_deadline'))} h past the deadline "
        f"({shortest}SLA {_int(row.get('sla_hours'))} h)"
    )


SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "evidence_stale": _evidence_stale,
    "evidence_missing": _evidence_missing,
    "retention_violated": _retention_violated,
    "tenant_isolation_misconfigured": _tenant_isolation_misconfigured,
    "shared_service_change_unevidenced": _shared_service_change_unevidenced,
    "admin_action_without_reason": _admin_action_without_reason,
    "incident_notification_overdue": _incident_notification_overdue,
}


def flag_sentence(row: Mapping[str, Any]) -> str:
    """The flag's evidence in one sentence: identifiers, times and counts from its row. A kind
    this module does not know raises KeyError, so a new kind cannot ship without its wording."""
    return SENTENCES[row["kind"]](row)
