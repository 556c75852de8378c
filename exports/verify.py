"""Offline verification of tenantproof bundles and certificates: what an auditor runs.

This file and ``contract.py`` beside it (the bundle contract, which the platform writes by) are
the whole verifier. They import only the standard library, pyarrow and cryptography, so an
auditor needs ``pip install pyarrow cryptography`` and the two files, not the platform (no
DuckDB, Dagster, dbt or Great Expectations)::

    python verify.py PATH --public-key export_public_key.pem [--state state.json]
                          [--key-file keys.json] [--complete]

PATH is a bundle folder, a folder of bundles (a tenant's periods: the chain and the tenant's
signed index are checked between them; or a whole exports tree), a deletion certificate or a
retention purge record. A signature passes only under a key the auditor pinned
(``--public-key``, ``--key-sha256``, or the key a ``--state`` file recorded): the key shipped
beside a document proves nothing about who signed it. Each data file is read on its own, never
through hive partitioning, so a row keeps its own tenant_id; its columns and its encryption must
be the ones the signed manifest lists. A manifest or certificate is checked for its structure
before anything reads it, so a malformed one is a named failure, and one broken item never stops
the report for the others. ``--complete`` also requires every period of each tenant's index and
each tenant's chain back to its first bundle; ``--state`` fails an index older than one seen
before. Hidden folders (a killed run's leftovers) are never taken for bundles. Exit status 0
when everything passed, 1 when anything failed (each problem named), 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import html
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pqe
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:  # beside the platform
    from exports import contract
except ImportError:  # the auditor's copy: contract.py beside this file
    import contract  # type: ignore[no-redef]


class TenantKms(pqe.KmsClient):
    """Wraps Parquet data keys with the tenant's key; ``custom_kms_conf`` maps tenant -> hex."""

    def __init__(self, config: pqe.KmsConnectionConfig) -> None:
        super().__init__()
        self.keys = {k: bytes.fromhex(v) for k, v in config.custom_kms_conf.items()}

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> bytes:
        import os

        nonce = os.urandom(12)
        aead = AESGCM(self.keys[master_key_identifier])
        sealed = aead.encrypt(nonce, key_bytes, master_key_identifier.encode())
        return base64.b64encode(nonce + sealed)

    def unwrap_key(self, wrapped_key: bytes, master_key_identifier: str) -> bytes:

        raw = base64.b64decode(wrapped_key)
        if master_key_identifier not in self.keys:  # never named: it may be another tenant's
            raise ValueError("encrypted under another tenant's key, not this bundle's tenant's")
        aead = AESGCM(self.keys[master_key_identifier])
        return aead.decrypt(raw[:12], raw[12:], master_key_identifier.encode())


def crypto_factory() -> pqe.CryptoFactory:
    return pqe.CryptoFactory(lambda config: TenantKms(config))


def parquet_decryption(tenant_id: str, key_hex: str) -> pqe.FileDecryptionProperties:
    kms = pqe.KmsConnectionConfig(custom_kms_conf={tenant_id: key_hex})
    return crypto_factory().file_decryption_properties(kms, pqe.DecryptionConfiguration())


def decrypt_csv(data: bytes, key_hex: str, name: str) -> bytes:
    if not data.startswith(contract.CSV_MAGIC):
        raise ValueError(f"{name}: not a {contract.CSV_SCHEME} file")
    body = data[len(contract.CSV_MAGIC) :]
    return AESGCM(bytes.fromhex(key_hex)).decrypt(body[:12], body[12:], name.encode())


def load_tenant_keys(path: Path) -> dict[str, str]:
    """A key file: a JSON map ``{tenant_id: hex key}`` (what the platform hands an auditor)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a JSON object of tenant_id -> hex key")
    return {str(k): str(v) for k, v in doc.items()}


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """sha256 of the raw 32-byte public key: the same whatever the PEM's line breaks."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(pem: bytes, origin: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ValueError(f"{origin}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{origin}: not an {contract.ALGORITHM} public key")
    return key


@dataclass
class Report:
    """What was checked on one bundle or certificate, and every problem found."""

    kind: str  # bundle | tenant_deletion | retention_purge | unknown
    target: Path
    subject: str = ""
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'}  {self.kind} {self.target}"
        lines = [head + (f" ({self.subject})" if self.subject else "")]
        lines += [f"      problem: {p}" for p in self.problems]
        lines += [f"      ok: {c}" for c in self.checked]
        lines += [f"      note: {n}" for n in self.notes]
        return "\n".join(lines)


# -- structure: every field a later check reads, validated before it is read --


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _field_problem(value: Any, wanted: str) -> str | None:
    """What is wrong with one field, or None: ``wanted`` is text, time, count, sha256, list or
    object."""
    ok = {
        "text": lambda v: isinstance(v, str) and v != "",
        "time": _is_time,
        "count": _is_count,
        "sha256": lambda v: isinstance(v, str) and contract.SHA256_RE.match(v) is not None,
        "list": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }[wanted](value)
    if ok:
        return None
    what = {
        "text": "a non-empty string",
        "time": "an ISO 8601 time",
        "count": "a non-negative integer",
        "sha256": "a sha256 (64 lowercase hex digits)",
        "list": "a list",
        "object": "an object",
    }[wanted]
    return f"is not {what} (got {value!r:.60})"


def _fields(doc: dict[str, Any], where: str, wanted: dict[str, str]) -> list[str]:
    """One line per field of ``doc`` that is missing or of the wrong kind."""
    problems = []
    for name, kind in wanted.items():
        if name not in doc:
            problems.append(f"{where}{name} is missing")
        elif (problem := _field_problem(doc[name], kind)) is not None:
            problems.append(f"{where}{name} {problem}")
    return problems


def _objects_problems(items: Any, label: str, sep: str, wanted: dict[str, str]) -> list[str]:
    """``_fields`` for each entry of a list of objects (nothing when it is not a list: its
    caller names that), each problem prefixed ``<label>[i]<sep>``."""
    problems: list[str] = []
    for i, entry in enumerate(items if isinstance(items, list) else []):
        if not isinstance(entry, dict):
            problems.append(f"{label}[{i}] is not an object")
        else:
            problems += _fields(entry, f"{label}[{i}]{sep}", wanted)
    return problems


def _safe_name(name: str) -> bool:
    """A file name inside the bundle folder: no path, so nothing outside the bundle is read."""
    return name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def manifest_problems(manifest: Any) -> list[str]:
    """Every way the manifest's structure is wrong, by field; empty when every field the checks
    read is there and of its kind. Checked before the bundle, so that a malformed manifest (even
    a validly signed one) is a named failure, never a crash of the verifier."""
    if not isinstance(manifest, dict):
        return [f"{contract.MANIFEST}: not a JSON object"]
    problems: list[str] = []
    missing = [k for k in contract.MANIFEST_KEYS if k not in manifest]
    if missing:
        problems.append(f"{contract.MANIFEST}: missing {', '.join(missing)}")
    problems += _fields(
        manifest,
        f"{contract.MANIFEST}: ",
        {k: "text" for k in contract.MANIFEST_TEXT_KEYS if k in manifest},
    )
    period = manifest.get("period")
    if "period" in manifest:
        if not isinstance(period, dict):
            problems.append(f"{contract.MANIFEST}: period {_field_problem(period, 'object')}")
        elif not isinstance(period.get("key"), str) or not contract.PERIOD_RE.match(period["key"]):
            problems.append(
                f"{contract.MANIFEST}: period.key is not a month YYYY-MM ({period.get('key')!r})"
            )
    if "validation" in manifest and not isinstance(manifest["validation"], dict):
        problems.append(
            f"{contract.MANIFEST}: validation {_field_problem(manifest['validation'], 'object')}"
        )
    version = manifest.get("manifest_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        problems.append(f"{contract.MANIFEST}: manifest_version is not an integer")
        version = 1
    if version >= 2 and not isinstance(manifest.get("encryption_required"), bool):
        problems.append(f"{contract.MANIFEST}: encryption_required is not true or false")
    if version >= 2 and isinstance(manifest.get("files"), list):
        for entry in manifest["files"]:
            if isinstance(entry, dict) and entry.get("format") in contract.TABULAR:
                columns = entry.get("columns")
                if not isinstance(columns, list) or not all(
                    isinstance(c, dict)
                    and isinstance(c.get("name"), str)
                    and isinstance(c.get("type"), str)
                    for c in columns
                ):
                    problems.append(
                        f"{contract.MANIFEST}: {entry.get('name')}: columns is not a list of "
                        "{name, type}"
                    )
    if "csv_encryption" in manifest and not isinstance(manifest["csv_encryption"], str):
        problems.append(f"{contract.MANIFEST}: csv_encryption is not a string")
    if "files" in manifest:
        problems += _file_list_problems(manifest["files"])
    link = manifest.get("previous_manifest")
    if link is not None:
        if not isinstance(link, dict):
            problems.append(
                f"{contract.MANIFEST}: previous_manifest is not null or an object "
                f"{{period, sha256}} (got {link!r:.60})"
            )
        else:
            problems += _fields(
                link,
                f"{contract.MANIFEST}: previous_manifest.",
                {"period": "text", "sha256": "sha256"},
            )
            if isinstance(link.get("period"), str) and not contract.PERIOD_RE.match(link["period"]):
                problems.append(
                    f"{contract.MANIFEST}: previous_manifest.period is not a month YYYY-MM"
                )
    replaces = manifest.get("replaces")
    if replaces is not None and (
        not isinstance(replaces, list) or not all(isinstance(r, str) for r in replaces)
    ):
        problems.append(f"{contract.MANIFEST}: replaces is not a list of sha256 strings")
    return problems


def _file_list_problems(files: Any) -> list[str]:
    """The manifest's ``files``: a list of entries, each with a safe unique name, its format,
    bytes and sha256, and a row count for the tabular formats (null for the others)."""
    if not isinstance(files, list):
        return [f"{contract.MANIFEST}: files {_field_problem(files, 'list')}"]
    problems: list[str] = []
    seen: set[str] = set()
    for i, entry in enumerate(files):
        if not isinstance(entry, dict):
            problems.append(f"{contract.MANIFEST}: files[{i}] is not an object")
            continue
        name = entry.get("name")
        where = f"{contract.MANIFEST}: files[{i}] ({name}): " if isinstance(name, str) else ""
        where = where or f"{contract.MANIFEST}: files[{i}]: "
        problems += _fields(
            entry, where, {"name": "text", "format": "text", "bytes": "count", "sha256": "sha256"}
        )
        if isinstance(name, str) and name:
            if not _safe_name(name):
                problems.append(f"{where}name is not a file name inside the bundle")
            elif name in seen:
                problems.append(f"{where}listed more than once")
            seen.add(name)
        if "rows" not in entry:
            problems.append(f"{where}rows is missing")
        elif entry.get("format") in contract.TABULAR:
            if not _is_count(entry["rows"]):
                problems.append(f"{where}rows {_field_problem(entry['rows'], 'count')}")
        elif entry["rows"] is not None and not _is_count(entry["rows"]):
            problems.append(f"{where}rows is not null or a non-negative integer")
        if "encrypted" in entry and not isinstance(entry["encrypted"], bool):
            problems.append(f"{where}encrypted is not true or false")
    return problems


def certificate_problems(doc: dict[str, Any], name: str) -> list[str]:
    """Every field a certificate of its kind must state, missing or of the wrong kind, every
    table row, removed bundle and verification check that is not an object, and at least one
    check: a signed certificate that leaves any out proves less than it claims."""
    wanted = {
        "certificate_version": "count",
        "tenant_id": "text",
        "tables": "list",
        "verification": "list",
        **contract.CERTIFICATE_FIELDS.get(doc.get("kind"), {}),
    }
    missing = [k for k in (*contract.CERTIFICATE_KEYS, *wanted) if k not in doc]
    problems = [f"{name}: missing {', '.join(dict.fromkeys(missing))}"] if missing else []
    problems += _fields(doc, f"{name}: ", {k: v for k, v in wanted.items() if k in doc})
    for i, row in enumerate(doc["tables"] if isinstance(doc.get("tables"), list) else []):
        if not isinstance(row, dict):
            problems.append(f"tables[{i}] is not an object")
        elif (problem := _field_problem(row.get("table"), "text")) is not None:
            problems.append(f"tables[{i}]: table {problem}")
    problems += _objects_problems(
        doc.get("bundles_removed"),
        "bundles_removed",
        ": ",
        {"bundle": "text", "manifest_sha256": "sha256"},
    )
    checks = doc.get("verification")
    if checks == []:
        problems.append(f"{name}: verification records no check (at least one is required)")
    elif isinstance(checks, list):
        for i, check in enumerate(checks):
            if not isinstance(check, dict):
                problems.append(f"verification[{i}] is not an object")
            else:
                problems += _fields(check, f"verification[{i}]: ", {"check": "text"})
    start, end = doc.get("requested_at"), doc.get("completed_at")
    if _is_time(start) and _is_time(end):
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        if (a.tzinfo is None) == (b.tzinfo is None) and b < a:
            problems.append(f"{name}: completed_at is before requested_at")
    return problems


# -- the bundle contract (DESIGN, "The bundle") --


def _csv_stats(
    path: Path,
    name: str,
    tenant: str,
    pattern: _Mentions | None,
    problems: list[str],
    text: str | None = None,
) -> tuple[list[str], int, int, int]:
    """Header, rows, rows of another tenant and cells naming another tenant, streamed (or from
    ``text``, a decrypted file's content)."""
    import io

    rows = foreign = hits = 0
    with (
        io.StringIO(text, newline="")
        if text is not None
        else path.open(newline="", encoding="utf-8") as fh
    ):
        csv.field_size_limit(CSV_FIELD_LIMIT)
        reader = csv.reader(fh)
        header = next(reader, [])
        index = header.index("tenant_id") if "tenant_id" in header else None
        for line, r in enumerate(reader, start=2):
            rows += 1
            for column, cell in zip(header, r, strict=False):
                if cell.startswith(contract.FORMULA_START):
                    problems.append(f"{name}:{line}: {column} starts a spreadsheet formula")
                if pattern is not None and column != "tenant_id" and pattern.search(cell):
                    hits += 1
            if index is not None and (len(r) <= index or r[index] != tenant):
                foreign += 1
    return header, rows, foreign, hits


def _parquet_stats(
    path: Path,
    tenant: str,
    pattern: _Mentions | None,
    decryption: pqe.FileDecryptionProperties | None = None,
) -> tuple[list[str], int, int, int]:
    table = pq.read_table(path, partitioning=None, decryption_properties=decryption)
    header = table.column_names
    foreign = hits = 0
    if "tenant_id" in header:
        same = pc.equal(table.column("tenant_id").cast(pa.string()), tenant).fill_null(False)
        foreign = table.num_rows - (pc.sum(same.cast(pa.int64())).as_py() or 0)
    if pattern is not None:
        for column in header:
            if column == "tenant_id" or not pa.types.is_string(table.schema.field(column).type):
                continue
            hits += sum(1 for v in table.column(column).to_pylist() if v and pattern.search(v))
    return header, table.num_rows, foreign, hits


# The biggest CSV cell read (Python's default is 128 KiB): well past the most a bundle's cell holds.
CSV_FIELD_LIMIT = 1024 * 1024 * 1024

# A self-contained page loads nothing: no script, no external stylesheet, image or font.
EXTERNAL_HTML = re.compile(
    r"<script|(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//|@import|url\(", re.I
)


def _html_problems(path: Path, name: str, pattern: _Mentions | None) -> list[str]:
    """A bundle's HTML page must be offline and name no other tenant."""
    text = path.read_text(encoding="utf-8")
    problems = []
    if EXTERNAL_HTML.search(text):
        problems.append(f"{name}: loads a script or a resource (the page must be self-contained)")
    if pattern is not None and pattern.search(html.unescape(text)):
        problems.append(f"{name}: names another tenant")
    return problems


class _Mentions:
    """Whether a text names one of the given other tenants' identifiers (contract.Recogniser,
    the platform's rule), the bundle's own tenant winning where both could be meant."""

    def __init__(self, tenant: str, foreign: Sequence[str]) -> None:
        self.tenant = tenant
        self.recogniser = contract.Recogniser([(tenant, None)], words=[("", w) for w in foreign])

    def search(self, text: str) -> bool:
        return bool(self.recogniser.foreign_mentions(text, self.tenant))


def check_bundle(
    folder: Path,
    foreign_identifiers: Iterable[str] = (),
    *,
    layout: bool = True,
    keys: dict[str, str] | None = None,
) -> list[str]:
    """Every way the bundle breaks its contract, as readable lines; empty when it holds.

    ``layout`` also requires the folder to sit at ``<region>/<tenant_id>/<period>``, as published;
    an auditor's copy may sit anywhere, so verification checks only what the manifest signs.
    """
    problems: list[str] = []
    manifest_path = folder / contract.MANIFEST
    if not manifest_path.exists():
        return [f"{folder}: {contract.MANIFEST} is missing"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{contract.MANIFEST}: not valid JSON ({exc})"]
    structure = manifest_problems(manifest)
    if structure:
        return structure
    tenant = manifest["tenant_id"]
    expected_place = (manifest["residency_region"], tenant, manifest["period"]["key"])
    if layout and tuple(folder.parts[-3:]) != expected_place:
        problems.append(
            f"bundle folder {'/'.join(folder.parts[-3:])} does not match the manifest "
            f"{'/'.join(expected_place)}"
        )
    listed = {f["name"]: f for f in manifest["files"]}
    formats = contract.FORMATS if manifest.get("csv_encryption") != "omit" else ("parquet",)
    wanted = {f"{k}.{fmt}" for k in contract.DATA_KINDS for fmt in formats} | {
        contract.VALIDATION,
        contract.FRESHNESS_REPORT,
    }
    for name in sorted(wanted - set(listed)):
        problems.append(f"{contract.MANIFEST}: {name} is not listed")
    present = {p.name for p in folder.iterdir() if p.is_file()}
    for name in sorted(present - set(listed) - set(contract.UNLISTED)):
        problems.append(f"{name}: file is not in the manifest")
    for name in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        problems.append(f"{name}/: folder is not in the manifest")
    foreign = [w for w in foreign_identifiers if w]
    pattern = _Mentions(tenant, foreign) if foreign else None
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        if not path.is_file():
            problems.append(f"{name}: listed in the manifest as a file, but is not one")
            continue
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{name}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        if contract.sha256_file(path) != entry["sha256"]:
            problems.append(f"{name}: sha256 does not match the manifest")
        if entry["format"] in contract.TABULAR:
            problems += _encryption_problems(path, name, entry, manifest)
        key = (keys or {}).get(tenant)
        if entry.get("encrypted") and key is None:
            continue  # hashes and sizes only; verify_bundle notes it
        try:
            if entry["format"] == "parquet":
                decryption = parquet_decryption(tenant, key) if entry.get("encrypted") else None
                header, rows, foreign, hits = _parquet_stats(path, tenant, pattern, decryption)
                schema = pq.read_schema(path, decryption_properties=decryption)
                problems += _column_problems(
                    name, entry, [(f.name, str(f.type)) for f in schema], typed=True
                )
            elif entry["format"] == "csv":
                text = None
                if entry.get("encrypted"):
                    text = decrypt_csv(path.read_bytes(), key, name).decode("utf-8")
                header, rows, foreign, hits = _csv_stats(
                    path, name, tenant, pattern, problems, text
                )
                problems += _column_problems(name, entry, [(h, "string") for h in header])
            else:
                if entry["format"] == "html":
                    problems += _html_problems(path, name, pattern)
                if name == contract.VALIDATION:
                    doc = json.loads(path.read_text(encoding="utf-8"))
                    if not isinstance(doc, dict) or not doc.get("success"):
                        problems.append(f"{contract.VALIDATION}: validation did not succeed")
                continue
        except InvalidTag:
            problems.append(
                f"{name}: does not decrypt with the tenant's key: encrypted under another key, "
                "altered, or moved from another file's place"
            )
            continue
        except (OSError, ValueError, pa.ArrowException, csv.Error) as exc:
            problems.append(f"{name}: cannot be read as {entry['format']} ({exc})")
            continue
        if entry["rows"] != rows:
            problems.append(f"{name}: {rows} rows, manifest says {entry['rows']}")
        if "tenant_id" not in header:
            problems.append(f"{name}: no tenant_id column")
            continue
        if foreign:
            problems.append(f"{name}: {foreign} row(s) whose tenant_id is not {tenant}")
        if hits:
            problems.append(f"{name}: {hits} cell(s) name another tenant")
    if not manifest["validation"].get("success"):
        problems.append(f"{contract.MANIFEST}: validation.success is not true")
    return problems


def _encrypted_on_disk(path: Path, fmt: str) -> bool:
    """Whether a data file's bytes are encrypted (readable without any key)."""
    with path.open("rb") as fh:
        if fmt == "csv":
            return fh.read(len(contract.CSV_MAGIC)) == contract.CSV_MAGIC
        fh.seek(0, 2)
        if fh.tell() < 4:
            return False
        fh.seek(-4, 2)
        return fh.read(4) == contract.PARQUET_ENCRYPTED_END


def _encryption_problems(path: Path, name: str, entry: dict, manifest: dict) -> list[str]:
    """The signed manifest says whether the class requires encryption and which files are
    encrypted; the bytes must agree, so a plaintext file in an encrypted slot fails."""
    problems = []
    said = bool(entry.get("encrypted"))
    actual = _encrypted_on_disk(path, entry["format"])
    if said != actual:
        problems.append(
            f"{name}: {'encrypted' if actual else 'plaintext'}, but the manifest says "
            f"{'encrypted' if said else 'plaintext'}"
        )
    if manifest.get("encryption_required") is True and not said:
        problems.append(
            f"{name}: the tenant's class requires encryption; the file is not encrypted"
        )
    return problems


def _column_problems(
    name: str, entry: dict, found: list[tuple[str, str]], typed: bool = False
) -> list[str]:
    """The file's columns (and Parquet types) against the ones its manifest entry lists."""
    if "columns" not in entry:
        return []
    listed = [(c["name"], c["type"]) for c in entry["columns"]]
    if not typed:
        listed = [(n, "string") for n, _ in listed]
    if listed == found:
        return []
    missing = [n for n, t in listed if (n, t) not in found]
    extra = [n for n, t in found if (n, t) not in listed]
    detail = "; ".join(
        part
        for part in (
            f"not as listed: {', '.join(missing)}" if missing else "",
            f"not listed: {', '.join(extra)}" if extra else "",
            "in another order" if not (missing or extra) else "",
        )
        if part
    )
    return [f"{name}: its columns are not the manifest's ({detail})"]


# -- signatures --


@dataclass(frozen=True)
class Trust:
    """The key a signature must verify under: the platform's public key as the auditor pinned
    it (``--public-key``), or its sha256 (``--key-sha256``, or the one an auditor's ``--state``
    file recorded). Neither: only the key shipped beside the document, which a forger can
    replace with their own, so a pass is never given on it."""

    public_key_pem: bytes | None = None
    key_sha256: str | None = None

    @property
    def pinned(self) -> bool:
        return self.public_key_pem is not None or self.key_sha256 is not None

    def key(self, shipped: Path) -> tuple[Ed25519PublicKey | None, str, list[str]]:
        """The key to verify with, where it came from, and the problems in getting it."""
        if self.public_key_pem is not None:
            try:
                return (
                    load_public_key(self.public_key_pem, "the given public key"),
                    ("the given public key"),
                    [],
                )
            except ValueError as exc:
                return None, "", [str(exc)]
        if not shipped.exists():
            return None, "", [f"{contract.PUBLIC_KEY} is missing and no --public-key was given"]
        try:
            key = load_public_key(shipped.read_bytes(), f"the {contract.PUBLIC_KEY} shipped")
        except ValueError as exc:
            return None, "", [str(exc)]
        if self.key_sha256 is None:
            return key, f"the {contract.PUBLIC_KEY} shipped beside it", [UNPINNED]
        if key_fingerprint(key) != self.key_sha256:
            return (
                None,
                "",
                [
                    f"the {contract.PUBLIC_KEY} shipped has sha256 {key_fingerprint(key)[:16]}, "
                    f"not the pinned key's {self.key_sha256[:16]}: signed by someone else"
                ],
            )
        return key, "the shipped key, matching the pinned sha256", []


UNPINNED = (
    "no pinned key: the signature holds only under the key shipped beside it, which anyone can "
    "replace with their own; pin the platform's key with --public-key, --key-sha256 or --state "
    "(docs/AUDITOR.md)"
)


def check_signature(
    document: Path, signature: Path, trust: Trust | bytes | None, signing: Any
) -> tuple[list[str], list[str], list[str]]:
    """Problems, ok-lines and notes for a detached Ed25519 signature over the document's bytes,
    under the pinned key (``Trust``). Unpinned, a valid signature under the shipped key is still
    a problem: it proves the files agree with each other, not who signed them."""
    if not isinstance(trust, Trust):
        trust = Trust(public_key_pem=trust)
    problems: list[str] = []
    notes: list[str] = []
    if not signature.exists():
        return [f"{signature.name} is missing: {document.name} is not signed"], [], notes
    shipped = document.parent / contract.PUBLIC_KEY
    key, origin, problems = trust.key(shipped)
    if key is None:
        return problems, [], notes
    fingerprint = key_fingerprint(key)
    try:
        key.verify(signature.read_bytes(), document.read_bytes())
    except InvalidSignature:
        problems.append(
            f"{signature.name}: the signature does not match {document.name} under {origin} "
            f"(key sha256 {fingerprint[:16]}): {document.name} was changed after signing, or "
            "was signed with another key"
        )
        return problems, [], notes
    stated = signing.get("public_key_sha256") if isinstance(signing, dict) else None
    if not isinstance(stated, str):
        problems.append(f"{document.name}: does not state the key it was signed with (signing)")
    elif stated != fingerprint:
        problems.append(
            f"{document.name}: states signing key sha256 {stated[:16]}, verified with "
            f"{fingerprint[:16]}"
        )
    if trust.public_key_pem is not None and shipped.exists():
        try:
            if (
                key_fingerprint(load_public_key(shipped.read_bytes(), contract.PUBLIC_KEY))
                != fingerprint
            ):
                notes.append(f"the {contract.PUBLIC_KEY} shipped beside it is not the given key")
        except ValueError as exc:
            notes.append(str(exc))
    ok = [f"signature {contract.ALGORITHM} over {document.name}, key sha256 {fingerprint[:16]}"]
    return problems, ok, notes


# -- bundles --


def _manifest_of(folder: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / contract.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _siblings(folder: Path, tenant: str) -> dict[str, Path]:
    """Other bundles of the same tenant beside this one, by period (from their manifests)."""
    out: dict[str, Path] = {}
    parent = folder.resolve().parent
    for other in sorted(
        p
        for p in parent.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p != folder.resolve()
    ):
        doc = _manifest_of(other)
        if doc and doc.get("tenant_id") == tenant and isinstance(doc.get("period"), dict):
            out.setdefault(str(doc["period"].get("key")), other)
    return out


def check_chain(
    folder: Path, manifest: dict[str, Any], complete: bool = False
) -> tuple[list[str], list[str], list[str]]:
    """The link to the tenant's previous bundle, when that bundle is beside this one.

    A previous bundle absent with nothing earlier beside it is only a note: an auditor may hold
    just the recent periods. ``complete`` makes it a failure, so that removing a tenant's oldest
    periods is caught: the earliest bundle held must then be the chain's first."""
    problems: list[str] = []
    checked: list[str] = []
    notes: list[str] = []
    if "previous_manifest" not in manifest:
        return (
            [f"{contract.MANIFEST}: previous_manifest is missing (the chain cannot be checked)"],
            [],
            [],
        )
    tenant, period = manifest["tenant_id"], manifest["period"]["key"]
    link = manifest["previous_manifest"]
    siblings = _siblings(folder, tenant)
    earlier = sorted(p for p in siblings if p < period)
    if link is None:
        if earlier:
            notes.append(
                f"chain: {period} was the tenant's first bundle when issued; the earlier "
                f"bundle(s) {', '.join(earlier)} beside it were issued after it"
            )
        else:
            checked.append(f"chain: {period} is the tenant's first bundle")
        return problems, checked, notes
    prev_period, prev_sha = link.get("period"), link.get("sha256")
    if not isinstance(prev_period, str) or not isinstance(prev_sha, str) or prev_period >= period:
        return [f"{contract.MANIFEST}: previous_manifest is malformed ({link!r})"], [], []
    target = siblings.get(prev_period)
    if target is None:
        before = [p for p in earlier if p < prev_period]
        if before:
            problems.append(
                f"chain: {period} links to {prev_period}, which is missing while earlier "
                f"bundle(s) {', '.join(before)} are present: a bundle of the chain was removed"
            )
        elif complete:
            problems.append(
                f"chain: tenant {tenant}: {period} links to {prev_period}, which is missing, and "
                f"no earlier bundle is here: the chain does not start at the tenant's first "
                "bundle (--complete)"
            )
        else:
            notes.append(
                f"chain: the previous bundle {prev_period} is not here; link not checked "
                "(--complete requires it)"
            )
        return problems, checked, notes
    actual = contract.sha256_file(target / contract.MANIFEST)
    replaced = (_manifest_of(target) or {}).get("replaces") or []
    if actual == prev_sha:
        checked.append(f"chain: links to {prev_period} (present, manifest sha256 matches)")
    elif prev_sha in replaced:
        checked.append(f"chain: links to {prev_period}, which was re-exported since (signed)")
        notes.append(f"chain: {prev_period} present is a declared re-export of the one linked")
    else:
        problems.append(
            f"chain: {period} links to the {prev_period} manifest sha256 {prev_sha[:16]}, but "
            f"the {prev_period} bundle present has {actual[:16]}: it was replaced or altered"
        )
    between = [p for p in siblings if prev_period < p < period]
    if between:
        notes.append(f"chain: {', '.join(between)} issued after {period} (a backfill)")
    return problems, checked, notes


def verify_bundle(
    folder: Path,
    public_key_pem: bytes | Trust | None = None,
    foreign_identifiers: Iterable[str] = (),
    keys: dict[str, str] | None = None,
    complete: bool = False,
) -> Report:
    """Signature, the manifest's structure, every listed file's sha256/bytes/rows, every row's
    tenant, the chain link (with ``complete``, back to the tenant's first bundle)."""
    report = Report("bundle", folder)
    manifest_path = folder / contract.MANIFEST
    if not manifest_path.exists():
        report.problems.append(f"{contract.MANIFEST} is missing")
        return report
    manifest = _manifest_of(folder)
    if manifest is None:
        report.problems.append(f"{contract.MANIFEST}: not a valid JSON object")
        return report
    period_doc = manifest.get("period")
    period = period_doc.get("key") if isinstance(period_doc, dict) else None
    report.subject = f"tenant {manifest.get('tenant_id')}, period {period}"
    problems, checked, notes = check_signature(
        manifest_path, folder / contract.SIGNATURE, public_key_pem, manifest.get("signing")
    )
    report.problems += problems
    report.checked += checked
    report.notes += notes
    structure = manifest_problems(manifest)
    if structure:
        report.problems += structure
        return report
    broken = check_bundle(folder, foreign_identifiers, layout=False, keys=keys)
    report.problems += broken
    encrypted = sorted(f["name"] for f in manifest["files"] if f.get("encrypted"))
    if encrypted and (keys or {}).get(str(manifest.get("tenant_id"))) is None:
        report.notes.append(
            f"{len(encrypted)} file(s) encrypted, content not checked (sha256 and bytes were; "
            "pass --key-file to check rows and tenant_id)"
        )
    elif encrypted:
        report.checked.append(f"{len(encrypted)} encrypted file(s) decrypted with the tenant key")
    if contract.PERIOD_RE.match(folder.name) and folder.name != period:
        report.problems.append(f"folder {folder.name} holds the bundle of period {period}")
    files = {f["name"]: f for f in manifest["files"]}
    for kind in contract.DATA_KINDS:
        a, b = files.get(f"{kind}.parquet"), files.get(f"{kind}.csv")
        if a and b and a.get("rows") != b.get("rows"):
            report.problems.append(
                f"{contract.MANIFEST}: {kind}.parquet has {a.get('rows')} rows, "
                f"{kind}.csv {b.get('rows')}"
            )
    if not broken:
        opened = [
            f
            for f in manifest["files"]
            if f["format"] == "parquet"
            and (not f.get("encrypted") or (keys or {}).get(str(manifest["tenant_id"])))
        ]
        if not opened:
            report.checked.append(
                f"{len(files)} files: sha256 and bytes match the manifest; the data files' "
                "encryption is as it says (their rows were not read)"
            )
        else:
            rows = sum(f.get("rows") or 0 for f in opened)
            report.checked.append(
                f"{len(files)} files: sha256 and bytes match the manifest; {len(opened)} Parquet "
                f"file(s) read ({rows} rows, the same in CSV), columns as listed, every row's "
                f"tenant_id is {manifest['tenant_id']}"
            )
    problems, checked, notes = check_chain(folder, manifest, complete)
    report.problems += problems
    report.checked += checked
    report.notes += notes
    return report


# -- each tenant's signed index (exports/tenant_index.py) --


@dataclass
class IndexCheck:
    report: Report
    payload: dict[str, Any] | None = None
    sha256: str | None = None


def _index_payload(
    path: Path, trust: Trust, shipped: Path
) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    """The index's payload when its DSSE envelope is well formed and signed under the pinned
    key; problems and ok-lines otherwise."""
    try:
        envelope = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return None, [f"{path.name}: not valid JSON ({exc})"], []
    if not isinstance(envelope, dict) or envelope.get("payloadType") != contract.INDEX_PAYLOAD_TYPE:
        return None, [f"{path.name}: not a DSSE envelope of a tenant index"], []
    signatures = envelope.get("signatures")
    try:
        payload_bytes = base64.b64decode(envelope.get("payload"), validate=True)
        sigs = [base64.b64decode(x["sig"], validate=True) for x in signatures]
    except (TypeError, ValueError, KeyError) as exc:
        return None, [f"{path.name}: payload or signatures are not base64 ({exc})"], []
    if not sigs:
        return None, [f"{path.name}: not signed"], []
    key, origin, problems = trust.key(shipped)  # unpinned: a bundle's shipped key, a problem
    if key is None:
        return None, problems, []
    signed = contract.dsse_pae(contract.INDEX_PAYLOAD_TYPE, payload_bytes)
    good = False
    for sig in sigs:
        try:
            key.verify(sig, signed)
            good = True
        except InvalidSignature:
            continue
    if not good:
        return None, [*problems, f"{path.name}: no signature verifies under {origin}"], []
    try:
        payload = json.loads(payload_bytes)
    except ValueError as exc:
        return None, [*problems, f"{path.name}: the payload is not JSON ({exc})"], []
    fields = {
        "tenant_id": "text",
        "residency_region": "text",
        "sequence": "count",
        "periods": "list",
    }
    structure = (
        _fields(payload, f"{path.name}: ", fields)
        if isinstance(payload, dict)
        else [f"{path.name}: the payload is not a JSON object"]
    )
    if not structure:
        structure = _objects_problems(
            payload["periods"],
            f"{path.name}: periods",
            ".",
            {"period": "text", "manifest_sha256": "sha256"},
        )
    if structure:
        return None, [*problems, *structure], []
    ok = [f"index signed ({contract.ALGORITHM}, key sha256 {key_fingerprint(key)[:16]})"]
    return payload, problems, ok


def check_index(
    tenant_root: Path, bundles: Sequence[Path], trust: Trust, complete: bool
) -> IndexCheck:
    """The tenant folder's signed index against the bundles found in it: every bundle present
    must be the one the index lists for its period; with ``complete``, every period it lists
    must be present and the index itself must be there."""
    report = Report("index", tenant_root, subject=f"tenant folder {tenant_root.name}")
    path = tenant_root / contract.TENANT_INDEX
    if not path.exists():
        line = (
            f"{contract.TENANT_INDEX} is missing: which periods the tenant has cannot be "
            "checked (a removed newest period would not show)"
        )
        (report.problems if complete else report.notes).append(
            line + ("" if complete else "; --complete requires it")
        )
        return IndexCheck(report)
    shipped = [b / contract.PUBLIC_KEY for b in bundles if (b / contract.PUBLIC_KEY).exists()]
    payload, problems, ok = _index_payload(path, trust, shipped[0] if shipped else path)
    report.problems += problems
    report.checked += ok
    if payload is None:
        return IndexCheck(report)
    tenant = payload["tenant_id"]
    report.subject = f"tenant {tenant}, index sequence {payload['sequence']}"
    if tenant_root.name != tenant:
        report.problems.append(
            f"the folder {tenant_root.name} holds the index of another tenant's bundles"
        )
    listed = {e["period"]: e["manifest_sha256"] for e in payload["periods"]}
    present: dict[str, Path] = {}
    for folder in bundles:
        manifest = _manifest_of(folder) or {}
        period = (
            manifest.get("period", {}).get("key")
            if isinstance(manifest.get("period"), dict)
            else None
        )
        if manifest.get("tenant_id") != tenant:
            report.problems.append(f"{folder.name}: a bundle of another tenant in this folder")
            continue
        if manifest.get("residency_region") != payload["residency_region"]:
            report.problems.append(
                f"{folder.name}: the manifest's region is not the index's "
                f"{payload['residency_region']}"
            )
        if period != folder.name:
            report.problems.append(f"{folder.name}: holds the bundle of period {period}")
            continue
        present[period] = folder
        if period not in listed:
            report.problems.append(f"{period}: present but not in the signed index")
        elif contract.sha256_file(folder / contract.MANIFEST) != listed[period]:
            report.problems.append(
                f"{period}: is not the bundle the index lists (manifest sha256 "
                f"{listed[period][:16]}): a superseded copy, or altered"
            )
    missing = sorted(set(listed) - set(present))
    if missing:
        line = f"period(s) {', '.join(missing)} listed in the signed index are missing"
        if complete:
            report.problems.append(line)
        else:
            report.notes.append(line + " (--complete requires them)")
    if report.ok:
        report.checked.append(
            f"{len(present)} of {len(listed)} listed period(s) present, each the bundle listed"
        )
    return IndexCheck(report, payload, contract.sha256_file(path))


# -- the auditor's state: the pinned key and the highest index sequence seen per tenant --


def load_state(path: Path) -> dict[str, Any]:
    """The state file (created on the first passing run); a malformed one is an error."""
    if not path.exists():
        return {"state_version": contract.STATE_VERSION, "public_key_sha256": None, "tenants": {}}
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("tenants"), dict):
        raise ValueError(f"{path}: not a tenantproof verify state file")
    return doc


def check_state(state: dict[str, Any], checks: Sequence[IndexCheck]) -> None:
    """An index older than the one the auditor saw (a lower sequence), or another index at the
    same sequence, fails its report."""
    for check in checks:
        if check.payload is None:
            continue
        seen = state["tenants"].get(check.payload["tenant_id"])
        if not isinstance(seen, dict):
            continue
        sequence = check.payload["sequence"]
        if sequence < seen.get("sequence", 0):
            check.report.problems.append(
                f"index sequence {sequence} is lower than the {seen['sequence']} recorded in the "
                "state file: the folder was rolled back"
            )
        elif sequence == seen.get("sequence") and check.sha256 != seen.get("index_sha256"):
            check.report.problems.append(
                f"index sequence {sequence} differs from the index recorded at that sequence"
            )
        elif check.report.ok:
            check.report.checked.append(
                f"sequence {sequence} is not below the {seen.get('sequence')} recorded in the state"
            )


def save_state(
    path: Path, state: dict[str, Any], checks: Sequence[IndexCheck], key: str | None
) -> None:
    tenants = dict(state["tenants"])
    for check in checks:
        if check.payload is not None:
            tenants[check.payload["tenant_id"]] = {
                "sequence": check.payload["sequence"],
                "index_sha256": check.sha256,
                "residency_region": check.payload["residency_region"],
            }
    doc = {"state_version": contract.STATE_VERSION, "public_key_sha256": key, "tenants": tenants}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


# -- certificates (tenant deletion, retention purge) --


def verify_certificate(path: Path, public_key_pem: bytes | Trust | None = None) -> Report:
    """Signature, completeness, and that every recorded check had its expected result."""
    report = Report("certificate", path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.problems.append(f"{path.name}: not valid JSON ({exc})")
        return report
    if not isinstance(doc, dict):
        report.problems.append(f"{path.name}: not a JSON object")
        return report
    report.kind = str(doc.get("kind", "certificate"))
    report.subject = f"tenant {doc.get('tenant_id')}"
    problems, checked, notes = check_signature(
        path, path.with_suffix(contract.SIGNATURE_SUFFIX), public_key_pem, doc.get("signing")
    )
    report.problems += problems
    report.checked += checked
    report.notes += notes
    if doc.get("kind") not in contract.CERTIFICATE_KINDS:
        report.problems.append(f"{path.name}: unknown kind {doc.get('kind')!r}")
        return report
    report.problems += certificate_problems(doc, path.name)
    tables = [r for r in doc.get("tables") or [] if isinstance(r, dict)]
    checks = [c for c in doc.get("verification") or [] if isinstance(c, dict)]
    if not isinstance(doc.get("tables"), list) or not isinstance(doc.get("verification"), list):
        return report
    for row in tables:
        name, before, after = row.get("table"), row.get("rows_before"), row.get("rows_after")
        if not isinstance(before, int) or not isinstance(after, int):
            report.problems.append(f"tables: {name}: rows_before/rows_after are not counts")
        elif doc["kind"] == contract.DELETION and after != 0:
            report.problems.append(f"tables: {name}: {after} row(s) of the tenant remain")
        elif doc["kind"] == contract.DELETION and row.get("mentions_after", 0) != 0:
            report.problems.append(
                f"tables: {name}: {row['mentions_after']} row(s) still name the tenant"
            )
        elif doc["kind"] == contract.PURGE:
            if after > before:
                report.problems.append(f"tables: {name}: more rows after the purge than before")
            elif row.get("rows_purged", before - after) != before - after:
                report.problems.append(f"tables: {name}: rows_purged is not before - after")
    failed = 0
    for check in checks:
        passed = check.get("result") == check.get("expected")
        if not passed or check.get("passed") is not True:
            failed += 1
            report.problems.append(
                f"verification: {check.get('check')}: result {check.get('result')!r}, "
                f"expected {check.get('expected')!r}"
            )
    if doc["kind"] == contract.DELETION and doc.get("verified") is not True:
        report.problems.append(f"{path.name}: the deletion is not marked verified")
    if report.ok:
        report.checked.append(
            f"{len(tables)} table count(s) and {len(checks)} verification check(s) as expected"
        )
    return report


# -- entry point --


def _certificate_kind(path: Path) -> str | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if kind in contract.CERTIFICATE_KINDS else None


def _guarded(kind: str, target: Path, run: Callable[[], Report]) -> Report:
    """One item's report; anything the checks did not foresee fails that item alone, so the
    report goes on for the others."""
    try:
        return run()
    except Exception as exc:  # reported as this item's failure, never raised past it
        return Report(
            kind, target, problems=[f"could not be verified: {type(exc).__name__}: {exc}"]
        )


def verify_path(
    path: Path,
    public_key_pem: bytes | Trust | None = None,
    keys: dict[str, str] | None = None,
    complete: bool = False,
    state: dict[str, Any] | None = None,
) -> list[Report]:
    """Everything verifiable at PATH: one bundle, one certificate, or all of them below it,
    with each tenant folder's signed index (``check_index``) and, given the auditor's
    ``state``, its sequence against the highest seen.

    ``complete``: each tenant's earliest bundle must be its chain's first (see check_chain),
    every period its index lists must be present, and every tenant of the state too. Hidden
    folders (a run's leftovers) are never taken for bundles."""
    return [c.report for c in _verify(path, public_key_pem, keys, complete, state)[0]]


def _verify(
    path: Path,
    public_key_pem: bytes | Trust | None,
    keys: dict[str, str] | None,
    complete: bool,
    state: dict[str, Any] | None,
) -> tuple[list[IndexCheck], list[Path]]:
    """(every item's check, in order; the hidden folders left out)."""
    trust = public_key_pem if isinstance(public_key_pem, Trust) else Trust(public_key_pem)

    def bundle(folder: Path) -> IndexCheck:
        return IndexCheck(
            _guarded(
                "bundle",
                folder,
                lambda: verify_bundle(folder, trust, keys=keys, complete=complete),
            )
        )

    def certificate(file: Path) -> IndexCheck:
        return IndexCheck(_guarded("certificate", file, lambda: verify_certificate(file, trust)))

    if path.is_file():
        if path.name == contract.MANIFEST:
            return [bundle(path.parent)], []
        if path.suffix == ".json":
            return [certificate(path)], []
        return [
            IndexCheck(Report("unknown", path, problems=["not a bundle folder or a certificate"]))
        ], []
    if not path.is_dir():
        return [IndexCheck(Report("unknown", path, problems=["does not exist"]))], []
    if (path / contract.MANIFEST).exists():
        return [bundle(path)], []
    checks: list[IndexCheck] = []
    hidden: list[Path] = []
    by_tenant_folder: dict[Path, list[Path]] = {}
    for candidate in sorted(path.rglob("*.json")):
        inside = candidate.relative_to(path).parts
        if any(part.startswith(".") for part in inside):
            folder = path.joinpath(
                *inside[: next(i for i, x in enumerate(inside) if x.startswith(".")) + 1]
            )
            if folder not in hidden:
                hidden.append(folder)
            continue
        if candidate.name == contract.MANIFEST:
            check = bundle(candidate.parent)
            check.report.problems += _layout_problems(candidate.parent, path)
            checks.append(check)
            by_tenant_folder.setdefault(candidate.parent.parent, []).append(candidate.parent)
        elif candidate.name == contract.TENANT_INDEX:
            by_tenant_folder.setdefault(candidate.parent, [])
        elif candidate.name != contract.VALIDATION and _certificate_kind(candidate):
            checks.append(certificate(candidate))
    indexes = []
    for tenant_folder, folders in sorted(by_tenant_folder.items()):
        if not complete and not (tenant_folder / contract.TENANT_INDEX).exists():
            continue  # some periods, without their index: an auditor may hold just those
        check = _guarded_index(tenant_folder, folders, trust, complete)
        if check.payload is not None and path in tenant_folder.parent.parents:
            region = check.payload["residency_region"]
            if tenant_folder.parent.name != region:
                check.report.problems.append(
                    f"the tenant's folder is under {tenant_folder.parent.name}, its region is "
                    f"{region}"
                )
        indexes.append(check)
    if state is not None:
        check_state(state, indexes)
        found = {c.payload["tenant_id"] for c in indexes if c.payload is not None}
        if complete and path not in by_tenant_folder:
            for tenant in sorted(set(state["tenants"]) - found):
                indexes.append(
                    IndexCheck(
                        Report(
                            "index",
                            path,
                            subject=f"tenant {tenant}",
                            problems=[
                                f"tenant {tenant} is in the state file (sequence "
                                f"{state['tenants'][tenant].get('sequence')}) and has no index "
                                "here: its folder was removed"
                            ],
                        )
                    )
                )
    checks += indexes
    if not checks:
        checks = [IndexCheck(Report("unknown", path, problems=["no bundle or certificate found"]))]
    return checks, hidden


def _layout_problems(folder: Path, root: Path) -> list[str]:
    """The folders between the verified root and a bundle must be named as published,
    ``<region>/<tenant_id>/<period>``: checked for the ones below the root (the root's own name
    is the auditor's to choose)."""
    manifest = _manifest_of(folder)
    if not (folder.parent / contract.TENANT_INDEX).exists():
        return []  # not a published tenant folder: a copy may be named as its holder likes
    if manifest is None or manifest_problems(manifest):
        return []
    inside = folder.relative_to(root).parts
    wanted = (manifest["residency_region"], manifest["tenant_id"], manifest["period"]["key"])
    problems = []
    names = ("period", "tenant", "region")
    for have, want, what in zip(reversed(inside), reversed(wanted), names, strict=False):
        if have != want:
            problems.append(
                f"the bundle is under {'/'.join(inside)}: its {what} folder is not {want}"
            )
    return problems


def _guarded_index(
    tenant_folder: Path, folders: list[Path], trust: Trust, complete: bool
) -> IndexCheck:
    try:
        return check_index(tenant_folder, folders, trust, complete)
    except Exception as exc:  # reported as this folder's failure, never raised past it
        return IndexCheck(
            Report(
                "index",
                tenant_folder,
                problems=[f"could not be verified: {type(exc).__name__}: {exc}"],
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="verify", description=__doc__.split("\n")[0])
    p.add_argument("path", type=Path, help="a bundle folder, a folder of bundles, a certificate")
    p.add_argument(
        "--public-key",
        type=Path,
        help=f"the platform's {contract.PUBLIC_KEY}, as you obtained it from the platform",
    )
    p.add_argument(
        "--key-sha256",
        help="the sha256 of the platform's raw public key (64 hex digits), as the platform "
        "gave it to you: pins the key instead of --public-key",
    )
    p.add_argument(
        "--state",
        type=Path,
        help="your state file: it pins the key and records the highest index sequence seen "
        "per tenant; created on the first passing run, updated on each",
    )
    p.add_argument(
        "--key-file",
        type=Path,
        help="JSON {tenant_id: hex key}: decrypt encrypted files and check their rows",
    )
    p.add_argument(
        "--complete",
        action="store_true",
        help="every period of each tenant's signed index must be here, its chain back to its "
        "first bundle, and every tenant of --state",
    )
    args = p.parse_args(argv)
    try:
        trust, state = _trust(args)
        keys = load_tenant_keys(args.key_file) if args.key_file else None
    except (OSError, ValueError) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    checks, hidden = _verify(args.path, trust, keys, args.complete, state)
    for check in checks:
        print(check.report.render())
    for folder in hidden:
        print(f"IGNORED {folder} (a hidden folder: not a published bundle)")
    failed = sum(not c.report.ok for c in checks)
    print(f"{len(checks) - failed} passed, {failed} failed")
    if args.state is not None and state is not None:
        if failed:
            print(f"state {args.state} not updated: something failed")
        else:
            pinned = trust.key_sha256 or _pem_sha256(trust.public_key_pem)
            save_state(args.state, state, checks, pinned)
    return 1 if failed else 0


def _pem_sha256(pem: bytes | None) -> str | None:
    return key_fingerprint(load_public_key(pem, "the given public key")) if pem else None


def _trust(args: argparse.Namespace) -> tuple[Trust, dict[str, Any] | None]:
    """The pinned key from the arguments and the state file; they must agree."""
    pem = args.public_key.read_bytes() if args.public_key else None
    given = args.key_sha256.strip().lower() if args.key_sha256 else None
    if given is not None and not contract.SHA256_RE.match(given):
        raise ValueError(f"--key-sha256 {args.key_sha256!r} is not 64 hex digits")
    if pem is not None:
        from_pem = _pem_sha256(pem)
        if given is not None and given != from_pem:
            raise ValueError("--key-sha256 is not the sha256 of --public-key")
        given = from_pem
    state = load_state(args.state) if args.state else None
    recorded = state.get("public_key_sha256") if state else None
    if recorded and given and recorded != given:
        raise ValueError(
            f"{args.state} pins the key sha256 {recorded[:16]}, not the given {given[:16]}: "
            "the platform's key changed, or this is not its key; start a new state file only "
            "after confirming the new key with the platform"
        )
    return Trust(public_key_pem=pem, key_sha256=given or recorded), state


if __name__ == "__main__":
    sys.exit(main())
