"""What a killed run can leave behind, found and removed.

An export stages its bundles under ``<home>/staging/<run_id>/`` and holds
``<home>/staging/<run_id>.lock`` (``filelock``: an OS lock, released when the process dies, even
by SIGKILL) for as long as it runs. A staging folder whose lock nobody holds belongs to a run
that is over: it may hold plaintext copies of bundles whose published versions are encrypted,
so it is removed at the start of the next export, by ``delete-tenant`` and by
``tenantproof doctor``. Under a region root, anything hidden beside a tenant's bundles (an
incoming copy from another volume, a temporary file, a replaced bundle left by an older
version) is a leftover too; the verifier and the summary never take it for a bundle.
Counts-only failure reports (``<run_id>.failed.json``) are kept: they are the record of what
was withheld.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from tenantproof.core.home import Home

LOCK_SUFFIX = ".lock"
FAILURE_REPORT_SUFFIX = ".failed.json"


@dataclass(frozen=True)
class Leftover:
    path: Path
    what: str
    bytes: int


@contextmanager
def run_staging(home: Home, run_id: str) -> Iterator[Path]:
    """The run's staging folder, locked for the life of the block (and of the process)."""
    home.staging.mkdir(parents=True, exist_ok=True)
    lock_path = home.staging / f"{run_id}{LOCK_SUFFIX}"
    with FileLock(lock_path):
        try:
            yield home.staging / run_id
        finally:
            shutil.rmtree(home.staging / run_id, ignore_errors=True)
    lock_path.unlink(missing_ok=True)


def _held(lock_path: Path) -> bool:
    """Whether a live run holds this lock (taking it for an instant when nobody does)."""
    if not lock_path.exists():
        return False
    lock = FileLock(lock_path, is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def find_leftovers(
    home: Home, roots: Mapping[str, Path], *, running: str | None = None
) -> list[Leftover]:
    """Every leftover of a finished or killed run, ``running`` (this run's id) excepted."""
    found: list[Leftover] = []
    if home.staging.is_dir():
        for entry in sorted(home.staging.iterdir()):
            name = entry.name
            if name.endswith(FAILURE_REPORT_SUFFIX):
                continue
            run = name.removesuffix(LOCK_SUFFIX)
            if run == running or _held(home.staging / f"{run}{LOCK_SUFFIX}"):
                continue
            what = (
                "the lock of a finished run"
                if name.endswith(LOCK_SUFFIX)
                else (f"staging of run {run}, which is not running")
            )
            found.append(Leftover(entry, what, _size(entry)))
    for root in sorted(set(roots.values())):
        if not root.is_dir():
            continue
        for tenant in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
            for entry in sorted(tenant.iterdir()):
                if entry.name.startswith("."):
                    found.append(Leftover(entry, "not a published bundle", _size(entry)))
    return found


def sweep_leftovers(
    home: Home, roots: Mapping[str, Path], *, running: str | None = None
) -> list[Leftover]:
    """Remove every leftover (``find_leftovers``); what was removed."""
    removed = find_leftovers(home, roots, running=running)
    for leftover in removed:
        if leftover.path.is_dir() and not leftover.path.is_symlink():
            shutil.rmtree(leftover.path, ignore_errors=True)
        else:
            leftover.path.unlink(missing_ok=True)
    return removed


def describe(leftovers: list[Leftover]) -> str:
    total = sum(item.bytes for item in leftovers)
    return f"{len(leftovers)} leftover(s) of earlier runs, {total} bytes"
