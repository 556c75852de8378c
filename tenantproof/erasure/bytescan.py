"""Raw-byte evidence that a deleted tenant is gone: every file under the home read byte for byte
(no decoding, no decompression) for the tenant's id, its name, its e-mail domain and its
e-mail addresses.

SQL finds only live rows: the bytes of deleted rows stay in a database file's free blocks until
they are overwritten, and a file never decoded by any check (a log, a dbt artefact, a Dagster
store) holds whatever was written to it. The deletion therefore rewrites its stores (the
warehouse into a fresh file, Dagster's SQLite stores vacuumed); this scan is the evidence.

What it can and cannot show, stated in the certificate:

- Matching is ASCII case-insensitive. In text files the id and the name match as whole tokens:
  not preceded or followed by a letter or digit, nor by ``-``, ``.`` or ``_`` joined to one (so
  ``t5`` is not found in ``t50`` or ``t5.eu``, the rule of ``exports.contract.Recogniser``); an
  e-mail domain is not preceded or followed by a letter, digit or ``-``; an address not
  preceded by a character of an address's local part.
- Binary files (any NUL byte, or not UTF-8) have no such boundaries: DuckDB and Parquet store
  strings back to back (``...retailt12ironbark capitalt2...``). There a value matches as a
  plain substring, except inside another tenant's id or name that contains it (``acme`` in
  ``Acme Labs``, ``t5`` in ``t50``), which is not counted in text files either.
- A value shorter than ``MIN_BINARY_BYTES`` bytes (a two-character tenant id) occurs by chance
  in compressed and encrypted bytes, several times per megabyte: in binary files its matches
  are counted and reported, not judged; the format-aware checks (SQL over the warehouse and
  every Dagster table, decoded landing and derived records) judge those files. In text files
  every match is a finding, whatever the length.
- Compressed storage (DuckDB's dictionary and FSST strings, Parquet pages) can hold a value
  whose bytes do not appear: a clean scan of such a file is evidence, not proof; the rewrite of
  the file is what guarantees that no freed block keeps old data.
"""

from __future__ import annotations

import codecs
import html
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

TENANT_ID = "tenant_id"
TENANT_NAME = "tenant_name"
EMAIL_DOMAIN = "email_domain"
EMAIL_ADDRESS = "email_address"
KINDS = (TENANT_ID, TENANT_NAME, EMAIL_DOMAIN, EMAIL_ADDRESS)
# 256**-6 per byte, times the case and boundary factors: one chance match in about 10**14
# bytes. Shorter values are judged in text files only (see the module doc).
MIN_BINARY_BYTES = 6
CHUNK = 8 << 20

_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")  # the data is lowercased first
_JOINERS = frozenset(b"-._")
_DOMAIN = _WORD | frozenset(b"-")
_LOCAL = _WORD | frozenset(b"._%+-")

MATCH_RULES = {
    TENANT_ID: "ASCII case-insensitive; in text files a whole token (not preceded or followed "
    "by a letter or digit, nor by '-', '.' or '_' joined to one), in binary files a substring",
    TENANT_NAME: "as the id; also its JSON-, HTML- and URL-escaped spellings",
    EMAIL_DOMAIN: "case-insensitive; in text files not preceded or followed by a letter, digit "
    "or '-', in binary files a substring",
    EMAIL_ADDRESS: "case-insensitive; in text files not preceded by a character of an address's "
    "local part nor followed by a letter, digit or '-', in binary files a substring",
}
SHADOW_RULE = (
    "a match inside another tenant's id or name that contains the value (t5 in t50, Acme in "
    "Acme Labs) is not counted"
)


@dataclass(frozen=True)
class Needle:
    """One spelling of one value, lowercased; ``strong`` ones are judged in binary files too."""

    kind: str
    form: bytes
    # other tenants' identifiers holding this form, each with the offsets of the form in it
    shadows: tuple[tuple[bytes, tuple[int, ...]], ...] = ()

    @property
    def strong(self) -> bool:
        return len(self.form) >= MIN_BINARY_BYTES

    def bounded(self, data: bytes, start: int, end: int) -> bool:
        before = data[start - 1] if start > 0 else None
        after = data[end] if end < len(data) else None
        if self.kind in (TENANT_ID, TENANT_NAME):
            if self.form[0] in _WORD and before is not None:
                if before in _WORD or (
                    before in _JOINERS and start > 1 and data[start - 2] in _WORD
                ):
                    return False
            if self.form[-1] in _WORD and after is not None:
                if after in _WORD or (
                    after in _JOINERS and end + 1 < len(data) and data[end + 1] in _WORD
                ):
                    return False
            return True
        if self.kind == EMAIL_DOMAIN and before is not None and before in _DOMAIN:
            return False
        if self.kind == EMAIL_ADDRESS and before is not None and before in _LOCAL:
            return False
        return after is None or after not in _DOMAIN

    def shadowed(self, data: bytes, start: int) -> bool:
        for other, offsets in self.shadows:
            for d in offsets:
                if start >= d and data[start - d : start - d + len(other)] == other:
                    return True
        return False

    @property
    def context(self) -> int:
        """Bytes around a match that deciding it reads."""
        return max([len(o) for o, _ in self.shadows] + [len(self.form)]) + 2

    def spans(
        self, lowered: bytes, begin: int = 0, limit: int | None = None, *, text: bool = True
    ) -> Iterator[int]:
        """Start offsets of the matches starting in [begin, limit): bounded ones in text, any
        in binary; never inside another tenant's identifier."""
        stop = len(lowered) if limit is None else limit
        i = lowered.find(self.form, begin)
        while i != -1 and i < stop:
            end = i + len(self.form)
            if (not text or self.bounded(lowered, i, end)) and not self.shadowed(lowered, i):
                yield i
            i = lowered.find(self.form, i + 1)


def _spellings(value: str) -> list[bytes]:
    forms = [
        value,
        json.dumps(value, ensure_ascii=True)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        quote(value, safe=""),
        quote(value, safe="").replace("%20", "+"),
    ]
    return list(dict.fromkeys(f.encode("utf-8").lower() for f in forms if f))


@dataclass(frozen=True)
class BytePatterns:
    """What the scan looks for: the tenant's id, its name, its e-mail domains and addresses."""

    tenant_id: str
    tenant_name: str | None = None
    email_domains: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # every other tenant's id and name

    @cached_property
    def needles(self) -> list[Needle]:
        raw = [(TENANT_ID, self.tenant_id.encode("utf-8").lower())]
        if self.tenant_name and self.tenant_name.strip():
            raw += [(TENANT_NAME, f) for f in _spellings(self.tenant_name.strip())]
        raw += [(EMAIL_DOMAIN, d.encode("utf-8").lower()) for d in self.email_domains if d]
        raw += [(EMAIL_ADDRESS, e.encode("utf-8").lower()) for e in self.email_addresses if e]
        others = {f for o in self.others if o and o.strip() for f in _spellings(o.strip())}
        out = []
        for kind, form in dict.fromkeys(raw):
            shadows = tuple(
                (o, tuple(i for i in range(len(o)) if o.startswith(form, i)))
                for o in sorted(others)
                if form in o and o != form
            )
            out.append(Needle(kind, form, shadows))
        # longest first: a redaction replaces an address before the domain inside it
        return sorted(out, key=lambda n: (-len(n.form), n.kind, n.form))

    def describe(self) -> list[dict[str, Any]]:
        """The kinds looked for, with how many values and spellings: never the values."""
        values = {
            TENANT_ID: 1,
            TENANT_NAME: int(bool(self.tenant_name and self.tenant_name.strip())),
            EMAIL_DOMAIN: len(set(self.email_domains)),
            EMAIL_ADDRESS: len(set(self.email_addresses)),
        }
        needles = self.needles
        return [
            {
                "kind": kind,
                "values": values[kind],
                "spellings": sum(n.kind == kind for n in needles),
                "shortest_bytes": min((len(n.form) for n in needles if n.kind == kind), default=0),
                "judged_in_binary_files": all(n.strong for n in needles if n.kind == kind),
                "match": MATCH_RULES[kind],
                "not_counted": SHADOW_RULE,
                "other_tenants_identifiers_containing_it": len(
                    {o for n in needles if n.kind == kind for o, _ in n.shadows}
                ),
            }
            for kind in KINDS
        ]

    def counts(self, data: bytes, *, text: bool = True) -> Counter[str]:
        """Matches per kind in one buffer (judged as text, or as binary: strong needles only)."""
        lowered = data.lower()
        found: Counter[str] = Counter()
        for needle in self.needles:
            if text or needle.strong:
                found[needle.kind] += sum(1 for _ in needle.spans(lowered, text=text))
        return +found

    def names(self, data: bytes, *, text: bool = True) -> bool:
        return bool(self.counts(data, text=text))

    def redact(self, data: bytes, replacement: bytes, *, text: bool = True) -> bytes:
        """Every match replaced (longest first where two overlap)."""
        lowered = data.lower()
        spans: list[tuple[int, int]] = []
        for needle in self.needles:
            if text or needle.strong:
                spans += [(i, i + len(needle.form)) for i in needle.spans(lowered, text=text)]
        if not spans:
            return data
        out, last = [], 0
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            if start < last:
                continue
            out += [data[last:start], replacement]
            last = end
        out.append(data[last:])
        return b"".join(out)


@dataclass(frozen=True)
class Exemption:
    """Files that may hold some kinds by design. ``path`` is relative to the home: a file, or
    a prefix when it ends with ``/`` or ``*``."""

    path: str
    kinds: tuple[str, ...]
    reason: str

    def covers(self, rel: str) -> bool:
        if self.path.endswith(("/", "*")):
            return rel.startswith(self.path.rstrip("*"))
        return rel == self.path


@dataclass
class FileScan:
    matches: Counter[str]  # judged matches per kind
    unjudged: int  # matches of short values in a binary file
    text: bool
    size: int


def scan_stream(fh: BinaryIO, patterns: BytePatterns) -> FileScan:
    """One file read in chunks (a match across two chunks counts once)."""
    needles = patterns.needles
    context = max(n.context for n in needles)  # needed on either side of a match
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    text, size = True, 0
    # matches as text and as binary: which applies is known at the end of the file
    as_text: dict[Needle, int] = Counter()
    as_binary: dict[Needle, int] = Counter()
    window, base, done = b"", 0, 0  # window starts at absolute offset base; starts < done seen
    while True:
        chunk = fh.read(CHUNK)
        eof = not chunk
        size += len(chunk)
        if text:
            try:
                decoder.decode(chunk, final=eof)
            except UnicodeDecodeError:
                text = False
            if b"\0" in chunk:
                text = False
        window += chunk.lower()
        limit = len(window) if eof else max(len(window) - context, 0)
        begin = max(done - base, 0)
        for needle in needles:
            if text:
                as_text[needle] += sum(1 for _ in needle.spans(window, begin, limit))
            as_binary[needle] += sum(1 for _ in needle.spans(window, begin, limit, text=False))
        done = base + limit
        if eof:
            break
        cut = max(limit - context, 0)
        base += cut
        window = window[cut:]
    judged: Counter[str] = Counter()
    unjudged = 0
    for needle in needles:
        if text:
            judged[needle.kind] += as_text[needle]
        elif needle.strong:
            judged[needle.kind] += as_binary[needle]
        else:
            unjudged += as_binary[needle]
    return FileScan(+judged, unjudged, text, size)


@dataclass
class Finding:
    path: str
    kind: str
    matches: int
    where: str = "content"  # or "path": the file's path under the home names it

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "matches": self.matches, "in": self.where}


@dataclass
class ScanResult:
    files: int = 0
    bytes: int = 0
    text_files: int = 0
    binary_files: int = 0
    binary_bytes: int = 0
    symlinks_not_followed: int = 0
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unjudged: Counter[str] = field(default_factory=Counter)  # top folder -> matches
    exempt_matches: dict[str, Counter[str]] = field(default_factory=dict)  # exemption -> kinds


def _walk(root: Path) -> Iterator[tuple[Path, bool]]:
    """Every file under root (symlinks are not followed, and reported)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in sorted(files):
            path = here / name
            yield path, path.is_symlink()
        for name in list(dirs):
            if (here / name).is_symlink():
                yield here / name, True
        dirs.sort()


def scan_home(root: Path, patterns: BytePatterns, exemptions: Iterable[Exemption]) -> ScanResult:
    """The raw bytes of every file under ``root`` and every file's path under it."""
    rules = list(exemptions)
    result = ScanResult()
    for path, link in _walk(root):
        rel = path.relative_to(root).as_posix()
        if link:
            result.symlinks_not_followed += 1
            continue
        exempt = next((e for e in rules if e.covers(rel)), None)
        allowed = set(exempt.kinds) if exempt else set()
        try:
            with path.open("rb") as fh:
                scanned = scan_stream(fh, patterns)
        except FileNotFoundError:
            continue  # gone while the home was scanned (a store's journal)
        except OSError as exc:
            result.unreadable.append(f"{rel}: {type(exc).__name__}")
            continue
        result.files += 1
        result.bytes += scanned.size
        if scanned.text:
            result.text_files += 1
        else:
            result.binary_files += 1
            result.binary_bytes += scanned.size
            if scanned.unjudged and (exempt is None or TENANT_ID not in allowed):
                result.unjudged[rel.split("/")[0]] += scanned.unjudged
        in_path = patterns.counts(rel.encode("utf-8"), text=True)
        for where, found in (("content", scanned.matches), ("path", in_path)):
            for kind, n in sorted(found.items()):
                if kind in allowed:
                    tally = result.exempt_matches.setdefault(exempt.path, Counter())
                    tally[kind] += n
                else:
                    result.findings.append(Finding(rel, kind, n, where))
    return result


def describe_scan(
    result: ScanResult, patterns: BytePatterns, exemptions: Iterable[Exemption]
) -> dict[str, Any]:
    """The certificate's account of the scan: what was read, what was looked for (kinds and
    counts, never the values), what is exempt and why, and what was found where."""
    return {
        "method": "the raw bytes of every file under the home, and every file's path, read in "
        "full: no decoding, decompression or decryption (see 'limits')",
        "files": result.files,
        "bytes": result.bytes,
        "text_files": result.text_files,
        "binary_files": result.binary_files,
        "binary_bytes": result.binary_bytes,
        "symlinks_not_followed": result.symlinks_not_followed,
        "patterns": patterns.describe(),
        "exempt": [
            {
                "path": e.path,
                "kinds": list(e.kinds),
                "reason": e.reason,
                "matches": dict(sorted(result.exempt_matches.get(e.path, Counter()).items())),
            }
            for e in exemptions
        ],
        "short_values_in_binary_files": {
            "rule": f"values shorter than {MIN_BINARY_BYTES} bytes are judged in text files "
            "only: in compressed and encrypted bytes they occur by chance; their matches in "
            "binary files are counted here per top folder, and those files are judged by the "
            "format-aware checks",
            "matches": dict(sorted(result.unjudged.items())),
        },
        "limits": "compressed storage (DuckDB dictionary and FSST strings, Parquet pages) can "
        "hold a value whose bytes do not appear: the warehouse is rewritten into a fresh file "
        "and Dagster's stores vacuumed so that no freed block keeps old data; encrypted files "
        "cannot be read without their keys",
        "unreadable": result.unreadable,
        "findings": [f.as_dict() for f in result.findings],
    }
