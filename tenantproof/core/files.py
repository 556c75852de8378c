"""Files replaced whole: a reader sees the old content or the new, never half of one.

Every document the platform rewrites in place (key stores, logs, progress and pending records,
snapshots, encrypted data files) is written to a temporary file beside its target, flushed to
disk and renamed over it; a failed write leaves the target as it was and no temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(target: Path, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``target`` for the block to write (created with ``mode`` first,
    so a secret is never readable by others, not even for a moment); when the block ends
    without an error it is synced and renamed over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if mode is not None:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode))
    try:
        yield tmp
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: Path, data: bytes | str, mode: int | None = None) -> None:
    """``data`` (text is UTF-8) as the whole new content of ``target``."""
    with replacing(target, mode) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
