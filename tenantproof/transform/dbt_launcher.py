"""dbt as a child process that dies with its parent.

A killed `tenantproof build` used to leave dbt running: it went on writing the warehouse and
held its lock, so the next build failed on "Could not set lock". dagster-dbt starts dbt with
``subprocess.Popen`` and no way to run code in the child, but it takes the executable to start
(``DbtCliResource(dbt_executable=...)``); ``launcher_script`` writes the one it is given. That
script runs this file with the parent's Python, which asks Linux to send the process SIGKILL
when its parent dies (``prctl(PR_SET_PDEATHSIG)``), checks that the parent has not died
already, and then replaces itself with dbt: the death signal survives ``exec``, so dbt itself
dies with the parent, however the parent ends, SIGKILL included. dbt's own children go with
it (pyspark's JVM exits when the Python that started it does).

The signal is tied to the parent *thread* that started the child: dbt must be started by a
thread that outlives it, as a Dagster step's thread that waits for dbt's output does. Only the
standard library is imported here: this file runs before dbt, and on other systems than Linux
it starts dbt unchanged.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import signal
import stat
import sys
import tempfile
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def launcher_script(dbt: str | Path, python: str | Path = sys.executable) -> Path:
    """An executable that starts ``dbt`` (with its arguments) through this file, run by
    ``python``; written once into a folder only this user can write, named by its content."""
    text = (
        "#!/bin/sh\n"
        "# Written by tenantproof/transform/dbt_launcher.py: dbt that dies with its parent.\n"
        f"exec {shlex.quote(str(python))} -I {shlex.quote(str(Path(__file__).resolve()))} "
        f'"$PPID" {shlex.quote(str(dbt))} "$@"\n'
    )
    folder = _private_folder()
    script = folder / f"dbt-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if not script.exists():
        fd, tmp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o700)
        os.replace(tmp, script)
    return script


def _private_folder() -> Path:
    """``<tmp>/tenantproof-<uid>``: this user's own (a folder another user made is refused,
    since what it holds is executed)."""
    folder = Path(tempfile.gettempdir()) / f"tenantproof-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise RuntimeError(f"{folder} is not a folder that only this user can write")
    return folder


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux); if the parent died
    before this was in place, the process is an orphan already and exits."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:
        raise SystemExit("dbt not started: its parent process has ended")


def main(argv: list[str]) -> None:
    """``<parent pid> <dbt> [dbt arguments...]``"""
    parent, dbt, *args = argv
    die_with_parent(int(parent))
    os.execvp(dbt, [dbt, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
