"""What ingest takes from a source's landing folder, and what it refuses whole, as a file.

A file is refused, never read row by row, when reading it would load what is not the source's
data or would turn one bad file into thousands of quarantine rows:

- a symbolic link (to a file or a folder): ``symlink_outside_landing`` when its target leaves
  ``landing/<source>/`` (a link to ``/etc/passwd``, to another source's folder or to another
  home), else ``symlink_in_landing``. Links are never followed, not even inside the folder: a
  target inside it is read anyway under its own path, so following the link would only read the
  same bytes again or under another path, and the path is what declares a file for a tenant
  (``tenants/<tenant_id>/``). The landing root itself may be a link (a mounted volume).
- a csv, jsonl or json file that is not text (``binary_file``, see ``not_text``);
- a file its reader cannot read (``unreadable_file``: a 0-byte or garbage Parquet file, a file
  the process may not open), with the reader's message.

A refused file is one quarantine row (``line`` null), naming the file relative to the landing
root like every quarantine row, and one ledger row that counts it as one row read and one row
quarantined, so read = loaded + quarantined holds for it as for any file. The ledger row's key
is the file's sha256, so the refusal is not repeated by later builds and a replaced file (other
bytes) is read. A link, or a file that could not be opened to hash it, has no content to hash:
its key is a digest of what identifies it (the link's path and target; the path, size, times
and mode), so changing any of them makes it new again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tenantproof.ingest.mapping import Mapping

SYMLINK_OUTSIDE = "symlink_outside_landing"
SYMLINK_INSIDE = "symlink_in_landing"
BINARY_FILE = "binary_file"
UNREADABLE_FILE = "unreadable_file"

# What the text check reads of a csv or jsonl file, and the share of odd bytes above which the
# file is not text (Perl's -T/-B heuristic uses the same 30%).
SNIFF_BYTES = 64 * 1024
MAX_ODD_SHARE = 0.30
# Odd in UTF-8 text: control characters other than tab, line feed, vertical tab, form feed and
# carriage return, and bytes that are not UTF-8 (read with surrogateescape: U+DC80..U+DCFF).
_ODD = re.compile("[\x00-\x08\x0e-\x1f\x7f\udc80-\udcff]")
# The most of a reader's message a quarantine row keeps.
MAX_DETAIL = 300


@dataclass(frozen=True)
class Refusal:
    """Why a landing file is quarantined whole, and what identifies it (never its content)."""

    code: str
    reason: str
    facts: dict[str, object] = field(default_factory=dict)


@dataclass
class LandingScan:
    files: list[Path] = field(default_factory=list)  # the mapping reads them
    ignored: list[Path] = field(default_factory=list)  # in its folder, of no read it declares
    links: list[Path] = field(default_factory=list)  # symbolic links: refused, never followed
    unlisted: list[tuple[Path, OSError]] = field(default_factory=list)  # folders not listable
    contested: list[tuple[Path, str]] = field(default_factory=list)  # also another's: not read


def _walk(folder: Path, scan: LandingScan) -> Iterator[tuple[Path, os.DirEntry]]:
    """The regular files and links under ``folder`` (never following a link), skipping names
    that start with "." (editors' temporary and lock files, which may be dangling links)."""
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            scan.unlisted.append((current, exc))
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            if not entry.is_symlink() and entry.is_dir(follow_symlinks=False):
                pending.append(path)
            else:
                yield path, entry


def scan_landing(landing: Path, mapping: Mapping, others: Iterable[Mapping] = ()) -> LandingScan:
    """The mapping's landing folders walked without following a link, each list in path order.
    A file another mapping reads too is read by neither (``contested``); a link whose path a
    read matches, or a link to a folder, is refused."""
    scan = LandingScan()
    rivals = [m for m in others if m.name != mapping.name]
    for name in mapping.folders:
        folder = landing / name
        if folder.is_symlink():
            scan.links.append(folder)
            continue
        if not folder.is_dir():
            continue
        for path, entry in _walk(folder, scan):
            rel = path.relative_to(landing).as_posix()
            read = mapping.read_for(rel)
            if entry.is_symlink():
                if read is not None or not os.path.isfile(path):
                    scan.links.append(path)
                else:
                    scan.ignored.append(path)
            elif read is None or not entry.is_file(follow_symlinks=False):
                scan.ignored.append(path)  # another format, or a pipe (it would block the reader)
            else:
                claimed = [m.name for m in rivals if m.read_for(rel) is not None]
                if claimed:
                    scan.contested.append((path, ", ".join(claimed)))
                else:
                    scan.files.append(path)
    for paths in (scan.files, scan.ignored, scan.links):
        paths.sort()
    scan.unlisted.sort(key=lambda item: item[0])
    scan.contested.sort()
    return scan


def unclaimed_files(landing: Path, mappings: Iterable[Mapping]) -> list[str]:
    """Landing files (relative paths) that no mapping reads, with why: named by the build, so a
    delivery in a format nothing reads is never skipped in silence."""
    mappings = list(mappings)
    out: list[str] = []
    if not landing.is_dir():
        return out
    scan = LandingScan()
    for path, entry in _walk(landing, scan):
        rel = path.relative_to(landing).as_posix()
        readers = [m.name for m in mappings if m.read_for(rel) is not None]
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            continue  # links are quarantined by their folder's source
        if not readers:
            out.append(f"{rel}: no source mapping reads it")
        elif len(readers) > 1:
            out.append(f"{rel}: read by {len(readers)} source mappings ({', '.join(readers)})")
    return sorted(out)


def open_delivered(path: Path) -> IO[bytes]:
    """A landing file's bytes, through gzip for a .gz file."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def gzip_broken(path: Path) -> bool:
    """True when a .gz file's stream is broken (DuckDB reports that as an I/O error, which
    would otherwise stop the load instead of refusing the file)."""
    if not path.name.endswith(".gz"):
        return False
    try:
        with open_delivered(path) as fh:
            while fh.read(1024 * 1024):
                pass
    except (OSError, EOFError):
        return True
    return False


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()


def link_refusal(landing: Path, link: Path) -> tuple[str, Refusal]:
    """The ledger key and the refusal of a symbolic link. Its target is resolved, never
    opened. Its own folder is the first folder of its path under landing."""
    rel = link.relative_to(landing)
    written = os.readlink(link)
    folder = rel.parts[0]
    own = landing.resolve() / folder
    try:
        target: Path | None = link.resolve()
    except (OSError, RuntimeError):  # a loop of links
        target = None
    key = f"symlink:{_digest(rel, written)}"
    facts: dict[str, object] = {"symlink_to": written}
    if target is None:
        reason = f"symbolic link to {written} that does not resolve (a loop): not read"
        return key, Refusal(SYMLINK_OUTSIDE, reason, facts)
    if link == landing / folder or not target.is_relative_to(own):
        root = landing.resolve()
        shown = target.relative_to(root) if target.is_relative_to(root) else target
        reason = (
            f"symbolic link to {shown}, outside landing/{folder}/: not read "
            "(links in landing are not followed; deliver the file itself)"
        )
        return key, Refusal(SYMLINK_OUTSIDE, reason, facts)
    reason = (
        f"symbolic link to {target.relative_to(landing.resolve())}: not followed (links in "
        "landing are not followed; a target in this folder is read under its own path)"
    )
    return key, Refusal(SYMLINK_INSIDE, reason, facts)


def unlisted_refusal(landing: Path, folder: Path, exc: OSError) -> tuple[str, Refusal]:
    """A folder that cannot be listed: refused like a file it may hold."""
    reason = f"folder cannot be listed: {exc.strerror or exc}"
    return f"unlisted:{_digest(folder.relative_to(landing), _stat_key(folder))}", Refusal(
        UNREADABLE_FILE, reason
    )


def _stat_key(path: Path) -> str:
    try:
        st = path.lstat()
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_mode}"


def unhashable_refusal(landing: Path, path: Path, exc: OSError) -> tuple[str, Refusal]:
    """A file that cannot be opened (such as one the process may not read)."""
    key = f"unopened:{_digest(path.relative_to(landing), _stat_key(path))}"
    return key, Refusal(UNREADABLE_FILE, f"cannot be opened: {exc.strerror or exc}")


def _size(path: Path) -> dict[str, object]:
    try:
        return {"bytes": path.stat().st_size}
    except OSError:
        return {}


def not_text(path: Path, fmt: str) -> Refusal | None:
    """The refusal of a csv, jsonl or json file (decompressed, for .gz) that is not UTF-8 text,
    judged on its first SNIFF_BYTES: it holds a NUL byte (never in CSV or JSON text; binary
    data, or text in UTF-16/UTF-32), or more than MAX_ODD_SHARE of its bytes are control
    characters or not UTF-8 (random, compressed or encrypted bytes are about 60%; Latin-1 text
    with an accent in every word stays under 10%). A text file with a few bad lines is read, and
    those lines are quarantined with their numbers; a binary tail after a text head is read line
    by line too (the check reads one block, not the file)."""
    try:
        with open_delivered(path) as fh:
            head = fh.read(SNIFF_BYTES)
    except (OSError, EOFError) as exc:  # not gzip, or cut short
        return Refusal(UNREADABLE_FILE, f"cannot be read as gzip: {exc}", _size(path))
    if not head:
        return None
    facts = _size(path)
    nul = head.find(b"\0")
    if nul >= 0:
        reason = (
            f"not a text file: a NUL byte at byte {nul + 1} (binary data, or text not in UTF-8 "
            f"such as UTF-16); a {fmt} file must be UTF-8 text: not read"
        )
        return Refusal(BINARY_FILE, reason, facts)
    # A full block may end in a cut multi-byte character: its bytes are not judged.
    sample = head if len(head) < SNIFF_BYTES else head[:-3]
    odd = len(_ODD.findall(sample.decode("utf-8", "surrogateescape")))
    if odd > MAX_ODD_SHARE * len(head):
        reason = (
            f"not a text file: {odd} of its first {len(head)} bytes are control characters or "
            f"not UTF-8 (binary, compressed or not UTF-8 data); a {fmt} file must be UTF-8 text: "
            "not read"
        )
        return Refusal(BINARY_FILE, reason, facts)
    return None


def unreadable(landing: Path, path: Path, fmt: str, exc: Exception) -> Refusal:
    """The refusal of a file its reader failed on, with the reader's first line, the file named
    as in the quarantine (relative to the landing root) rather than by its absolute path."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = message.replace(str(path), str(path.relative_to(landing)))
    if len(message) > MAX_DETAIL:
        message = message[: MAX_DETAIL - 1] + "…"
    return Refusal(UNREADABLE_FILE, f"cannot be read as {fmt}: {message}", _size(path))
