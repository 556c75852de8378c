"""Landing hygiene: a symbolic link is never followed, and a file that is not text or cannot be
read is quarantined once, whole, while the other files load (tenantproof.ingest.landing)."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantproof.core.sources import (
    ACCESS_HISTORY,
    AUDIT_EVENTS,
    EVIDENCE_EVENTS,
    FORMAT_SUFFIXES,
    INCIDENTS,
)
from tenantproof.core.sources import TENANTS as TENANTS_SOURCE
from tenantproof.core.warehouse import connect
from tenantproof.ingest.landing import SNIFF_BYTES
from tests.test_ingest import ACCESS_ROW, TENANTS_CSV, event, evidence_parquet, ledger, load

ACCESS_HEADER = ",".join(ACCESS_HISTORY.columns)
SECRET = "zz-outside-secret"  # a value only the files outside the landing folder hold


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "home" / "landing"
    (root / "tenants").mkdir(parents=True)
    (root / "tenants" / "tenants.csv").write_text(TENANTS_CSV)
    for source in (AUDIT_EVENTS, ACCESS_HISTORY, EVIDENCE_EVENTS):
        (root / source.name).mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files outside the home that would load as t1's rows if a link were followed."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "rows.csv").write_text(f"{ACCESS_HEADER}\n{SECRET},{ACCESS_ROW}\n")
    (folder / "rows.jsonl").write_text(event(SECRET) + "\n")
    return folder


def file_rows(con, source: str) -> list[tuple]:
    return con.execute(
        "select file, line, field, reason_code, reason, tenant_hint, record from raw.quarantine "
        "where source = ? order by file, line",
        [source],
    ).fetchall()


def holding(con, text: str) -> list[str]:
    """The raw tables with a row whose text holds `text`."""
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw'"
    ).fetchall()
    return [
        name
        for (name,) in tables
        if con.execute(
            f"select count(*) from raw.{name} t where contains(t::varchar, ?)", [text]
        ).fetchone()[0]
    ]


def balanced(report) -> bool:
    return all(f.read == f.loaded + f.quarantined for f in report.files)


# -- symbolic links --


def test_a_link_to_a_file_outside_the_home_is_one_row_and_its_content_is_not_read(
    landing: Path, outside: Path, tmp_path: Path
):
    folder = landing / "access_history"
    (folder / "a.csv").write_text(f"{ACCESS_HEADER}\nx1,{ACCESS_ROW}\n")
    (folder / "x.csv").symlink_to(outside / "rows.csv")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, ACCESS_HISTORY)
    assert [(f.path, f.status, f.read, f.loaded, f.quarantined) for f in report.files] == [
        ("access_history/a.csv", "loaded", 1, 1, 0),
        ("access_history/x.csv", "quarantined", 1, 0, 1),
    ]
    assert file_rows(con, "access_history") == [
        (
            "access_history/x.csv",
            None,
            None,
            "symlink_outside_landing",
            f"symbolic link to {outside / 'rows.csv'}, outside landing/access_history/: not read "
            "(links in landing are not followed; deliver the file itself)",
            None,
            f'{{"symlink_to": "{outside / "rows.csv"}"}}',
        )
    ]
    assert holding(con, SECRET) == []
    assert con.execute("select access_id from raw.access_history").fetchall() == [("x1",)]
    # a later build does not quarantine it again
    _, again = load(con, landing, TENANTS_SOURCE, ACCESS_HISTORY)
    assert [f.status for f in again.files] == ["already_loaded", "already_loaded"]
    assert len(file_rows(con, "access_history")) == 1
    assert [r[:4] for r in ledger(con, "access_history")] == [
        ("access_history/a.csv", 1, 1, 0),
        ("access_history/x.csv", 1, 0, 1),
    ]
    # the link replaced by the file itself (the same bytes): read, and its rows load
    (folder / "x.csv").unlink()
    (folder / "x.csv").write_bytes((outside / "rows.csv").read_bytes())
    _, fixed = load(con, landing, TENANTS_SOURCE, ACCESS_HISTORY)
    assert (fixed.loaded, fixed.quarantined) == (1, 0)


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="no /etc/passwd")
def test_a_link_to_etc_passwd_puts_none_of_its_lines_anywhere(landing: Path, tmp_path: Path):
    (landing / "audit_events" / "p.jsonl").symlink_to("/etc/passwd")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
    assert (report.read, report.loaded, report.quarantined) == (1, 0, 1)
    assert [r[:4] for r in file_rows(con, "audit_events")] == [
        ("audit_events/p.jsonl", None, None, "symlink_outside_landing")
    ]
    assert holding(con, "root:") == []


@pytest.mark.parametrize("declared", [False, True])
def test_a_linked_folder_pointing_outside_is_one_row_and_not_walked(
    landing: Path, outside: Path, tmp_path: Path, declared: bool
):
    parent = landing / "audit_events" / ("tenants/t1" if declared else "")
    parent.mkdir(parents=True, exist_ok=True)
    (parent / "more").symlink_to(outside, target_is_directory=True)
    (landing / "audit_events" / "a.jsonl").write_text(event("e1") + "\n")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
    link = str((parent / "more").relative_to(landing))
    assert [(f.path, f.status) for f in report.files] == [
        ("audit_events/a.jsonl", "loaded"),
        (link, "quarantined"),
    ]
    (row,) = file_rows(con, "audit_events")
    assert row[:4] == (link, None, None, "symlink_outside_landing")
    assert str(outside) in row[4]
    # a declared folder's refusal is the tenant's: its deletion finds it
    assert row[5] == ("t1" if declared else None)
    assert holding(con, SECRET) == []


def test_a_source_folder_that_is_a_link_outside_is_refused(
    landing: Path, outside: Path, tmp_path: Path
):
    (landing / INCIDENTS.name).symlink_to(outside, target_is_directory=True)
    (outside / "i.jsonl").write_text('{"incident_id": "' + SECRET + '"}\n')
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, INCIDENTS)
    assert [(f.path, f.status, f.read, f.quarantined) for f in report.files] == [
        ("incidents", "quarantined", 1, 1)
    ]
    assert file_rows(con, "incidents")[0][3] == "symlink_outside_landing"
    assert holding(con, SECRET) == []


def test_a_link_into_another_source_folder_leaves_its_own(landing: Path, tmp_path: Path):
    (landing / "access_history" / "t.csv").symlink_to(landing / "tenants" / "tenants.csv")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, ACCESS_HISTORY)
    (row,) = file_rows(con, "access_history")
    assert row[3:5] == (
        "symlink_outside_landing",
        "symbolic link to tenants/tenants.csv, outside landing/access_history/: not read "
        "(links in landing are not followed; deliver the file itself)",
    )
    assert (report.read, report.loaded, report.quarantined) == (1, 0, 1)


def test_a_link_inside_its_folder_is_not_followed_and_its_target_loads_once(
    landing: Path, tmp_path: Path
):
    folder = landing / "audit_events"
    (folder / "a.jsonl").write_text(event("e1") + "\n" + event("e2") + "\n")
    (folder / "tenants" / "t2").mkdir(parents=True)
    # a link in t2's declared folder would make t1's rows look like t2's delivery
    (folder / "tenants" / "t2" / "b.jsonl").symlink_to(folder / "a.jsonl")
    (folder / "loop.jsonl").symlink_to(folder / "loop.jsonl")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
    assert [(f.path, f.status, f.read, f.loaded, f.quarantined) for f in report.files] == [
        ("audit_events/a.jsonl", "loaded", 2, 2, 0),
        ("audit_events/loop.jsonl", "quarantined", 1, 0, 1),
        ("audit_events/tenants/t2/b.jsonl", "quarantined", 1, 0, 1),
    ]
    rows = {r[0]: r for r in file_rows(con, "audit_events")}
    assert rows["audit_events/tenants/t2/b.jsonl"][3:6] == (
        "symlink_in_landing",
        "symbolic link to audit_events/a.jsonl: not followed (links in landing are not "
        "followed; a target in this folder is read under its own path)",
        "t2",
    )
    assert rows["audit_events/loop.jsonl"][3] == "symlink_outside_landing"
    assert "does not resolve" in rows["audit_events/loop.jsonl"][4]


def test_hidden_names_are_skipped_as_before(landing: Path, tmp_path: Path):
    """An editor's lock file is a dangling link with a hidden name: not data, not a refusal."""
    (landing / "audit_events" / ".#a.jsonl").symlink_to("user@host.1234")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
    assert report.files == [] and file_rows(con, "audit_events") == []


# -- files that cannot be read, or are not text --


def test_bad_parquet_files_are_quarantined_once_and_the_good_one_loads(
    landing: Path, tmp_path: Path
):
    folder = landing / "evidence_events"
    (folder / "empty.parquet").write_bytes(b"")
    (folder / "garbage.parquet").write_bytes(random.Random(1).randbytes(5000))
    evidence_parquet(folder / "good.parquet", ["v1", "v2"])
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, EVIDENCE_EVENTS)
    assert [(f.path, f.status, f.read, f.loaded, f.quarantined) for f in report.files] == [
        ("evidence_events/empty.parquet", "quarantined", 1, 0, 1),
        ("evidence_events/garbage.parquet", "quarantined", 1, 0, 1),
        ("evidence_events/good.parquet", "loaded", 2, 2, 0),
    ]
    assert con.execute("select evidence_id from raw.evidence_events order by 1").fetchall() == [
        ("v1",),
        ("v2",),
    ]
    rows = file_rows(con, "evidence_events")
    assert [(r[0], r[1], r[3], r[6]) for r in rows] == [
        ("evidence_events/empty.parquet", None, "unreadable_file", '{"bytes": 0}'),
        ("evidence_events/garbage.parquet", None, "unreadable_file", '{"bytes": 5000}'),
    ]
    assert rows[0][4] == (
        "cannot be read as parquet: Invalid Input Error: File 'evidence_events/empty.parquet' "
        "too small to be a Parquet file"
    )
    # the reader's message, naming the file as the quarantine does: no absolute path
    assert rows[1][4].startswith("cannot be read as parquet: ")
    assert str(tmp_path) not in rows[1][4] and "\n" not in rows[1][4]
    # a second build adds nothing
    _, again = load(con, landing, TENANTS_SOURCE, EVIDENCE_EVENTS)
    assert {f.status for f in again.files} == {"already_loaded"}
    assert len(file_rows(con, "evidence_events")) == 2
    assert con.execute("select count(*) from raw.evidence_events").fetchone() == (2,)
    # the ledger's counts add up and cover the refused files as one row each
    assert con.execute(
        "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from raw.file_ledger "
        "where source = 'evidence_events'"
    ).fetchone() == (4, 2, 2)
    # the empty file replaced by a readable one: read
    evidence_parquet(folder / "empty.parquet", ["v3"])
    _, fixed = load(con, landing, TENANTS_SOURCE, EVIDENCE_EVENTS)
    assert (fixed.read, fixed.loaded, fixed.quarantined) == (1, 1, 0)


@pytest.mark.parametrize(
    ("source", "name"), [(ACCESS_HISTORY, "blob.csv"), (AUDIT_EVENTS, "b.jsonl")]
)
def test_a_random_binary_blob_is_one_row_not_one_per_line(
    landing: Path, tmp_path: Path, source, name: str
):
    blob = random.Random(7).randbytes(2 * 1024 * 1024)
    assert blob.count(b"\n") > 5000  # read line by line, it would be thousands of rows
    (landing / source.name / name).write_bytes(blob)
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, source)
    assert (report.read, report.loaded, report.quarantined) == (1, 0, 1)
    ((file, line, _, code, reason, _, record),) = file_rows(con, source.name)
    assert (file, line, code, record) == (
        f"{source.name}/{name}",
        None,
        "binary_file",
        '{"bytes": 2097152}',
    )
    assert reason.startswith("not a text file: a NUL byte at byte ")


def test_text_not_in_utf8_is_refused_whole(landing: Path, tmp_path: Path):
    folder = landing / "access_history"
    (folder / "utf16.csv").write_bytes(f"{ACCESS_HEADER}\nx1,{ACCESS_ROW}\n".encode("utf-16"))
    # no NUL byte, and most bytes not UTF-8 (as compressed or encrypted data)
    noisy = bytes(b for b in random.Random(3).randbytes(20000) if b)
    (folder / "noise.csv").write_bytes(noisy)
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, ACCESS_HISTORY)
    assert (report.read, report.loaded, report.quarantined) == (2, 0, 2)
    rows = {r[0]: r for r in file_rows(con, "access_history")}
    assert {r[3] for r in rows.values()} == {"binary_file"}
    assert "NUL byte at byte 4" in rows["access_history/utf16.csv"][4]
    assert "bytes are control characters or not UTF-8" in rows["access_history/noise.csv"][4]


def test_latin1_text_is_read_line_by_line_not_refused(landing: Path, tmp_path: Path):
    """Text with a wrong byte on every line is text: each bad line is quarantined with its
    number (the share of odd bytes stays far under the limit), the good ones load."""
    row = ACCESS_ROW.replace("bob", "b\u00f6b")
    lines = [f"x{i},{row}" for i in range(3000)]
    body = "\n".join([ACCESS_HEADER, f"ok,{ACCESS_ROW}", *lines]) + "\n"
    (landing / "access_history" / "l.csv").write_bytes(body.encode("latin-1"))
    assert len(body) > SNIFF_BYTES
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, ACCESS_HISTORY)
    assert (report.read, report.loaded, report.quarantined) == (3001, 1, 3000)
    assert {r[3] for r in file_rows(con, "access_history")} == {"malformed"}


def test_an_empty_text_file_is_read_as_no_rows(landing: Path, tmp_path: Path):
    (landing / "audit_events" / "e.jsonl").write_bytes(b"")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
    assert [(f.status, f.read) for f in report.files] == [("loaded", 0)]


def _reads_any_file() -> bool:
    """Whether this process reads a file whatever its mode (root, or CAP_DAC_OVERRIDE)."""
    with tempfile.NamedTemporaryFile() as fh:
        os.chmod(fh.name, 0)
        try:
            open(fh.name, "rb").close()
        except PermissionError:
            return False
        return True


@pytest.mark.skipif(_reads_any_file(), reason="this process reads any file (root)")
def test_a_file_that_cannot_be_opened_is_refused_once(landing: Path, tmp_path: Path):
    locked = landing / "audit_events" / "locked.jsonl"
    locked.write_text(event("e1") + "\n")
    locked.chmod(0)
    try:
        con = connect(tmp_path / "w.duckdb")
        _, report = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
        assert [(f.status, f.read, f.quarantined) for f in report.files] == [("quarantined", 1, 1)]
        assert file_rows(con, "audit_events")[0][3:5] == (
            "unreadable_file",
            "cannot be opened: Permission denied",
        )
        _, again = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
        assert [f.status for f in again.files] == ["already_loaded"]
        locked.chmod(0o644)
        _, fixed = load(con, landing, TENANTS_SOURCE, AUDIT_EVENTS)
        assert (fixed.loaded, fixed.quarantined) == (1, 0)
    finally:
        locked.chmod(0o644)


# -- any bytes: never an exception, and the counts add up --

_line = st.one_of(
    st.sampled_from([event("e1"), event("e2", tenant=None), f"x1,{ACCESS_ROW}", ACCESS_HEADER]),
    st.text(max_size=40),
)
_contents = st.one_of(
    st.binary(max_size=3000),
    st.lists(_line, max_size=8).map(lambda ls: "\n".join(ls).encode()),
    st.tuples(st.lists(_line, max_size=4), st.binary(max_size=200)).map(
        lambda t: "\n".join(t[0]).encode() + b"\n" + t[1]
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from([AUDIT_EVENTS, ACCESS_HISTORY, EVIDENCE_EVENTS]), content=_contents)
def test_any_bytes_are_one_file_row_or_rows_that_add_up(source, content: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        (landing / "tenants").mkdir(parents=True)
        (landing / "tenants" / "tenants.csv").write_text(TENANTS_CSV)
        (landing / source.name).mkdir()
        (landing / source.name / f"f{FORMAT_SUFFIXES[source.format][0]}").write_bytes(content)
        con = connect(Path(":memory:"))
        _, report = load(con, landing, TENANTS_SOURCE, source)
        (result,) = report.files
        assert result.read == result.loaded + result.quarantined
        whole = [r for r in file_rows(con, source.name) if r[1] is None]
        if result.status == "quarantined":
            assert result.read == result.quarantined == 1
            assert len(whole) == 1 and whole[0][3] in ("binary_file", "unreadable_file")
        else:
            assert result.status == "loaded" and whole == []
        counts = con.execute(
            "select rows_read, rows_loaded, rows_quarantined from raw.file_ledger where source = ?",
            [source.name],
        ).fetchall()
        assert counts == [(result.read, result.loaded, result.quarantined)]
        # a second ingest adds nothing
        _, again = load(con, landing, TENANTS_SOURCE, source)
        assert [f.status for f in again.files] == ["already_loaded"]
        con.close()
