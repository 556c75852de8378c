"""Where new drift flags go (spec §5.3: alerting must identify tenant impact).

A notice names the flag, its kind and severity, its attribution and the affected tenant ids:
identifiers only, never a flag's evidence text or anything personal. The default notifier
writes one log line per flag; a ``JsonlNotifier`` appends them to a file another system can
tail; anything with a ``notify(notices)`` method can take their place (the Dagster resource
``DriftNotifierResource`` chooses).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class DriftNotice:
    flag_id: str
    kind: str
    severity: str | None
    tenant_id: str | None
    global_scope: str | None
    affected_tenants: tuple[str, ...]
    detected_at: str  # ISO, UTC

    def line(self) -> str:
        who = (
            f"tenant {self.tenant_id}"
            if self.tenant_id
            else f"global scope {self.global_scope} ({len(self.affected_tenants)} tenant(s))"
        )
        return (
            f"drift {self.kind} [{self.severity or '-'}] on {who}: affected tenants "
            f"{', '.join(self.affected_tenants)}; detected {self.detected_at}; flag {self.flag_id}"
        )


class Notifier(Protocol):
    def notify(self, notices: Sequence[DriftNotice]) -> None: ...


class LogNotifier:
    """The default: one line per new flag in the given log (a Dagster sensor's log)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log

    def notify(self, notices: Sequence[DriftNotice]) -> None:
        for notice in notices:
            self.log(notice.line())


class JsonlNotifier:
    """Appends one JSON object per new flag to a file, for a system that tails it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def notify(self, notices: Sequence[DriftNotice]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for notice in notices:
                fh.write(json.dumps(asdict(notice), sort_keys=True) + "\n")


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def new_notices(
    flags: pa.Table, since: datetime | None, until: datetime | None = None
) -> list[DriftNotice]:
    """Flags first published after ``since`` (every flag when ``since`` is None) and, when
    given, no later than ``until`` (the snapshot the caller's cursor will record: a newer one
    that replaced the file meanwhile is sent on the next call, not twice), oldest first."""
    if since is not None:
        stamp = pa.scalar(since.replace(tzinfo=None), pa.timestamp("us"))
        flags = flags.filter(pc.greater(flags.column("first_seen_at"), stamp))
    if until is not None:
        stamp = pa.scalar(until.replace(tzinfo=None), pa.timestamp("us"))
        flags = flags.filter(pc.less_equal(flags.column("first_seen_at"), stamp))
    notices = [
        DriftNotice(
            flag_id=r["flag_id"],
            kind=r["kind"],
            severity=r["severity"],
            tenant_id=r["tenant_id"],
            global_scope=r["global_scope"],
            affected_tenants=tuple(r["affected_tenants"] or ()),
            detected_at=_iso(r["detected_at"]),
        )
        for r in flags.select(
            [
                "flag_id",
                "kind",
                "severity",
                "tenant_id",
                "global_scope",
                "affected_tenants",
                "detected_at",
            ]
        ).to_pylist()
    ]
    return sorted(notices, key=lambda n: (n.detected_at, n.flag_id))
