"""The bundle contract (DESIGN, "The bundle"), checked on a published bundle folder.

Only pyarrow and the standard library: this is what an auditor's machine runs. Each data file
is read on its own, never through hive partitioning, so a row keeps its own tenant_id.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

DATA_KINDS = ("audit_events", "access_history", "evidence", "controls", "shared_service_evidence")
FORMATS = ("parquet", "csv")
MANIFEST_KEYS = (
    "tenant_id",
    "tenant_class",
    "residency_region",
    "period",
    "generated_at",
    "policy_version",
    "redaction_profile",
    "files",
    "validation",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        return header, list(reader)


def check_bundle(folder: Path, foreign_identifiers: Iterable[str] = ()) -> list[str]:
    """Every way the bundle breaks its contract, as readable lines; empty when it holds."""
    problems: list[str] = []
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return [f"{folder}: manifest.json is missing"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        problems.append(f"manifest.json: missing {', '.join(missing)}")
        return problems
    tenant = manifest["tenant_id"]
    expected_place = (manifest["residency_region"], tenant, manifest["period"]["key"])
    if tuple(folder.parts[-3:]) != expected_place:
        problems.append(
            f"bundle folder {'/'.join(folder.parts[-3:])} does not match the manifest "
            f"{'/'.join(expected_place)}"
        )
    listed = {f["name"]: f for f in manifest["files"]}
    wanted = {f"{k}.{fmt}" for k in DATA_KINDS for fmt in FORMATS} | {"validation.json"}
    for name in sorted(wanted - set(listed)):
        problems.append(f"manifest.json: {name} is not listed")
    present = {p.name for p in folder.iterdir() if p.is_file()}
    for name in sorted(present - set(listed) - {"manifest.json"}):
        problems.append(f"{name}: file is not in the manifest")
    pattern = None
    words = sorted({w for w in foreign_identifiers if w}, key=len, reverse=True)
    if words:
        pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.I)
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{name}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        if _sha256(path) != entry["sha256"]:
            problems.append(f"{name}: sha256 does not match the manifest")
        if entry["format"] == "parquet":
            table = pq.read_table(path, partitioning=None)
            rows = table.to_pylist()
            header = table.column_names
        elif entry["format"] == "csv":
            header, raw = _csv_rows(path)
            rows = [dict(zip(header, r, strict=False)) for r in raw]
            for line, r in enumerate(raw, start=2):
                for column, cell in zip(header, r, strict=False):
                    if cell.startswith(FORMULA_START):
                        problems.append(f"{name}:{line}: {column} starts a spreadsheet formula")
        else:
            if name == "validation.json":
                doc = json.loads(path.read_text(encoding="utf-8"))
                if not doc.get("success"):
                    problems.append("validation.json: validation did not succeed")
            continue
        if entry["rows"] != len(rows):
            problems.append(f"{name}: {len(rows)} rows, manifest says {entry['rows']}")
        if "tenant_id" not in header:
            problems.append(f"{name}: no tenant_id column")
            continue
        foreign = sum(1 for r in rows if r["tenant_id"] != tenant)
        if foreign:
            problems.append(f"{name}: {foreign} row(s) whose tenant_id is not {tenant}")
        if pattern is not None:
            hits = sum(
                1
                for r in rows
                for column, value in r.items()
                if column != "tenant_id" and isinstance(value, str) and pattern.search(value)
            )
            if hits:
                problems.append(f"{name}: {hits} cell(s) name another tenant")
    if not manifest["validation"].get("success"):
        problems.append("manifest.json: validation.success is not true")
    return problems
