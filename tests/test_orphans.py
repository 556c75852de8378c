"""A killed build leaves no process behind, and the next build recovers in one step (issue 13,
item 4: SIGKILLed while dbt ran, `tenantproof build` left dbt running, the rerun failed on the
lock the orphan held on the warehouse, and a mart stayed short until a second rerun).

Real builds of a small generated home, started as the command a person runs: the processes of
a build are found in /proc (Linux), by their parent and by the home named in dbt's arguments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tenantproof.core.home import Home
from tenantproof.core.warehouse import connect
from tenantproof.demo.generate import generate
from tests.conftest import AS_OF

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

GENERATE = {"tenants": 4, "events": 500, "seed": 3}
BUILD_SECONDS = 600
GONE_WITHIN_SECONDS = 5.0
TENANTPROOF = str(Path(sys.executable).with_name("tenantproof"))


def generated(root: Path) -> Home:
    home = Home(root).ensure()
    generate(root, as_of=AS_OF, **GENERATE)
    return home


def build_command(home: Home) -> list[str]:
    return [TENANTPROOF, "--home", str(home.root), "build"]


def build_env() -> dict[str, str]:
    return {**os.environ, "TENANTPROOF_AS_OF": AS_OF.isoformat(), "TENANTPROOF_ENGINE": "duckdb"}


def start_build(home: Home, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            build_command(home), stdout=out, stderr=subprocess.STDOUT, env=build_env()
        )


def run_build(home: Home, log: Path) -> subprocess.CompletedProcess:
    with log.open("wb") as out:
        return subprocess.run(
            build_command(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=build_env(),
            timeout=BUILD_SECONDS,
        )


# -- processes, from /proc --


def processes() -> Iterator[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every live process; zombies are dead."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state not in ("Z", "X"):
            yield int(entry.name), int(ppid), cmdline


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for child, parent, _ in processes():
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid, _, _ in processes() if pid in pids}


def dbt_builds(home: Home) -> set[int]:
    """The live processes of a `dbt build` on this home (dbt's arguments name it)."""
    named = ("dbt", " build", str(home.root))
    return {pid for pid, _, cmd in processes() if all(n in cmd for n in named)}


def wait_for(what: str, found: Callable[[], object], seconds: float, build: subprocess.Popen):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        assert build.poll() is None, f"the build ended (exit {build.returncode}) before {what}"
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {seconds} s")


def models_built(home: Home) -> bool:
    """dbt has created relations in the warehouse: it holds the file and is writing it."""
    logs = home.dbt_target.glob("*/dbt.log")
    return any("OK created" in log.read_text(errors="replace") for log in logs)


def stop(pids: set[int]) -> None:
    """Clean up after a failing test: only the processes this test started."""
    for pid in alive(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def mart_counts(home: Home) -> dict[str, int]:
    con = connect(home.warehouse, read_only=True)
    try:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'export') order by all"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]
            for s, t in relations
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The marts' row counts of an uninterrupted build of the same landing files."""
    home = generated(tmp_path_factory.mktemp("reference"))
    done = run_build(home, home.root / "build.log")
    assert done.returncode == 0, (home.root / "build.log").read_text()[-3000:]
    counts = mart_counts(home)
    assert counts["marts.fct_audit_events"] > 0 and len(counts) >= 20
    return counts


def test_a_killed_build_leaves_no_process_behind_and_one_rerun_recovers(
    reference: dict[str, int], tmp_path: Path
) -> None:
    home = generated(tmp_path / "home")
    build = start_build(home, tmp_path / "killed.log")
    started: set[int] = set()
    try:
        started |= wait_for("dbt build", lambda: dbt_builds(home), 300, build)
        wait_for("model built by dbt", lambda: models_built(home), 300, build)
        started |= descendants(build.pid) | dbt_builds(home)
        assert dbt_builds(home), "dbt is running when the build is killed"
        os.kill(build.pid, signal.SIGKILL)
        build.wait()
        deadline = time.monotonic() + GONE_WITHIN_SECONDS
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {pid: cmd[:200] for pid, _, cmd in processes() if pid in started}
        assert not left, f"still running after the build was killed: {left}"
        assert not dbt_builds(home)
    finally:
        stop(started)
        if build.poll() is None:
            build.kill()

    rerun = run_build(home, tmp_path / "rerun.log")
    assert rerun.returncode == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    assert mart_counts(home) == reference


def test_a_terminated_build_stops_dbt_and_exits(tmp_path: Path) -> None:
    """SIGTERM (or Ctrl-C) while dbt runs: dbt is stopped, and then the build exits, failed."""
    home = generated(tmp_path / "home")
    build = start_build(home, tmp_path / "terminated.log")
    started: set[int] = set()
    try:
        started |= wait_for("dbt build", lambda: dbt_builds(home), 300, build)
        started |= descendants(build.pid)
        build.send_signal(signal.SIGTERM)
        code = build.wait(timeout=60)
        assert code != 0
        assert not dbt_builds(home), "dbt stopped before the build exited"
    finally:
        stop(started)
        if build.poll() is None:
            build.kill()
