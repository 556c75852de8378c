"""The one rule for "this text names that tenant" (docs/TENANT_MENTIONS.md): the Python
recogniser, the SQL the warehouse runs, and a real build and export with identifiers of the
kinds real platforms have (Unicode names, ids that are prefixes of one another, ids equal to a
region or a period)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.contract import OTHER_TENANT, SQL_TOKEN, Recogniser, sql_marked
from tenantproof.core.home import Home
from tenantproof.core.settings import HOME_ENV
from tenantproof.core.sources import MAX_CELL_BYTES, TENANT_ID_PATTERN
from tenantproof.core.warehouse import connect
from tests.bundles import read_table
from tests.conftest import AS_OF, AS_OF_ENV, platform_key, settings_for

# -- the rule, on the cases of the issue --

REGISTRY = [
    ("acme", "Acme Corp"),
    ("acme-eu", "Acme Europe"),
    ("gamma", "Ümlaut Werke"),
    ("beta", "Beta Industries"),
    ("alpha", "Alpha"),
    ("eu", "Eurotrust"),
    ("2026-10", "October Labs"),
    ("111111111111", "Numeric Account"),
    ("t1", "東京データ"),
]


X = OTHER_TENANT


@pytest.mark.parametrize(
    ("text", "tenant", "scrubbed"),
    [
        ("shared runbook with Ümlaut Werke ops", "beta", f"shared runbook with {OTHER_TENANT} ops"),
        ("shared runbook with ÜMLAUT werke ops", "beta", f"shared runbook with {OTHER_TENANT} ops"),
        (
            "ticket raised by Beta Industries admin",
            "alpha",
            f"ticket raised by {OTHER_TENANT} admin",
        ),
        (
            "escalated from acme-eu support queue",
            "acme",
            f"escalated from {OTHER_TENANT} support queue",
        ),
        ("(acme-eu)", "acme-eu", None),
        ("Acme Corp and acme.", "acme-eu", f"{OTHER_TENANT} and {OTHER_TENANT}."),
        ("region eu, period 2026-10", "acme", f"region {OTHER_TENANT}, period {OTHER_TENANT}"),
        ("a1b2c3d4-0000-4000-8000-111111111111 and evt-111111111111", "acme", None),
        ("account 111111111111 paid", "acme", f"account {OTHER_TENANT} paid"),
        ("東京データ の 監査", "gamma", f"{OTHER_TENANT} の 監査"),
        ("acme acme acme", "beta", " ".join([OTHER_TENANT] * 3)),
        ("Beta\n  Industries", "alpha", OTHER_TENANT),
    ],
)
def test_the_rule_on_the_cases_of_the_issue(text, tenant, scrubbed):
    rule = Recogniser(REGISTRY)
    expected = text if scrubbed is None else scrubbed
    assert rule.scrub(text, tenant) == expected
    assert sql_scrub(rule, text, tenant) == expected
    assert bool(rule.foreign_mentions(text, tenant)) == (scrubbed is not None)
    assert rule.foreign_mentions(expected, tenant) == []


def test_a_tenants_own_identifiers_are_never_scrubbed():
    rule = Recogniser(REGISTRY)
    text = "Acme Europe (acme-eu) and ACME-EU"
    assert rule.scrub(text, "acme-eu") == text
    assert rule.foreign_mentions(text, "acme-eu") == []
    assert rule.foreign_mentions(text, "acme") == ["Acme Europe", "acme-eu", "ACME-EU"]


# -- the SQL the warehouse runs: the steps of macros/tenant_scrub.sql and the validator --


def _sql(con: duckdb.DuckDBPyConnection, rule: Recogniser, text: str, tenant: str) -> tuple:
    return con.execute(
        f"""with marked as (
            select regexp_replace({sql_marked("$text")},
                       $own, '\\1', 'g') as m
        )
        select case when strpos(m, chr(1)) > 0 then replace(regexp_replace(
                   m, '\\x01[^\\x02]*\\x02', $other, 'g'), chr(3), '') else $text end,
               list_transform(regexp_extract_all(m, '\\x01([^\\x02]*)\\x02', 1),
                              lambda x: replace(x, chr(3), '')),
               regexp_matches($text, $prefilter)
        from marked""",
        {
            "text": text,
            "token": SQL_TOKEN,
            "identifiers": "(?i)" + rule.sql_alternation(),
            "own": "(?i)" + rule.own_marked(tenant),
            "other": OTHER_TENANT,
            "prefilter": "(?i)" + rule.sql_prefilter(),
        },
    ).fetchone()


_CON = duckdb.connect()


def sql_scrub(rule: Recogniser, text: str, tenant: str) -> str:
    return _sql(_CON, rule, text, tenant)[0]


# -- property-based: registries and texts of every shape --

SLUG = st.from_regex(r"\A[a-z0-9](?:[a-z0-9._-]{0,6}[a-z0-9])?\Z", fullmatch=True)
SCRIPTS = st.sampled_from(
    [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "äöüßÄÖÜéèêçñÑøåÆŁłŒœ",
        "αβγδεζηθικλμνξοπρσςτυφχψωΑΒΓΔΣΩ",
        "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЖЯ",
        "東京データ監査北極星株式会社",
        "אבגדהוזחטיכלמנסעפצקרשת",
        "0123456789٠١٢٣",
        "ก่ข้ค็ง",  # Thai letters with combining marks
    ]
)


@st.composite
def word(draw) -> str:
    letters = draw(SCRIPTS)
    return draw(st.text(alphabet=letters, min_size=1, max_size=6))


@st.composite
def registries(draw) -> list[tuple[str, str]]:
    ids = draw(st.lists(SLUG, min_size=2, max_size=6, unique=True))
    # ids that are prefixes of one another, joined by a hyphen, dot or underscore
    base = ids[0]
    for joiner in draw(st.lists(st.sampled_from("-._"), max_size=2)):
        extended = base + joiner + draw(SLUG)
        if extended not in ids and re.match(TENANT_ID_PATTERN, extended):
            ids.append(extended)
    ids += [
        i
        for i in draw(st.lists(st.sampled_from(["eu", "us", "2026-10", "ac-2", "the"])))
        if i not in ids
    ]
    names = []
    for _ in ids:
        kind = draw(st.sampled_from(["words", "other_id", "none"]))
        if kind == "words":
            names.append(" ".join(draw(st.lists(word(), min_size=1, max_size=3))))
        elif kind == "other_id":
            names.append(draw(st.sampled_from(ids)).upper())
        else:
            names.append(None)
    return list(zip(ids, names, strict=True))


SEPARATORS = [" ", "-", ".", "_", ", ", "\n", "\u00a0", "/", "(", "):"]


@st.composite
def texts(draw, registry: list[tuple[str, str]]) -> str:
    identifiers = [w for pair in registry for w in pair if w]
    pieces = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["identifier", "word", "sep"]))
        if kind == "identifier":
            ident = draw(st.sampled_from(identifiers))
            pieces.append(draw(st.sampled_from([ident, ident.upper(), ident.lower()])))
        elif kind == "word":
            pieces.append(draw(word()))
        else:
            pieces.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(pieces)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_scrub_and_validator_agree_on_any_registry_and_text(data):
    registry = data.draw(registries())
    rule = Recogniser(registry)
    text = data.draw(texts(registry))
    tenant = data.draw(st.sampled_from([t for t, _ in registry]))
    scrubbed, found, prefiltered = _sql(_CON, rule, text, tenant)
    mentions = rule.foreign_mentions(text, tenant)
    # Python and SQL agree on what the text names and on the scrubbed text
    assert found == mentions
    assert scrubbed == rule.scrub(text, tenant)
    assert not mentions or prefiltered  # the pre-filter never hides a mention
    # the scrub removes every other tenant and leaves nothing for the validator to find...
    assert rule.foreign_mentions(scrubbed, tenant) == []
    assert _sql(_CON, rule, scrubbed, tenant)[1] == []
    # ...and keeps every mention of the row's own tenant
    own = Recogniser([p for p in registry if p[0] == tenant])
    assert len(own.foreign_mentions(scrubbed, "")) >= len(own.foreign_mentions(text, "")) - len(
        mentions
    )
    # a planted, unscrubbed mention of another tenant is what the validator flags
    others = [(t, n) for t, n in registry if t != tenant]
    victim, name = data.draw(st.sampled_from(others))
    planted = f"{scrubbed} {victim} "
    if rule.foreign_mentions(f" {victim} ", tenant):
        assert _sql(_CON, rule, planted, tenant)[1] != []


# -- a real build and export with such a registry --

HOSTILE = [
    ("acme", "Acme Corp", "standard", "eu"),
    ("acme-eu", "Acme Europe", "standard", "eu"),
    ("gamma", "Ümlaut Werke", "standard", "eu"),
    ("beta", "Beta Industries", "standard", "us"),
    ("eu", "Eurotrust", "standard", "eu"),
    ("2026-10", "October Labs", "standard", "us"),
]
INVALID_ID = "tënant-ü"
# Personal data in free text, for t1 (a standard-class tenant), and its redaction
PII_REASON = (
    "mail jane.doe@example.com or José.Núñez@correo.example, call +1 (415) 555-0134 or "
    "212-555-0188, ssn 123-45-6789"
)
PII_REASON_REDACTED = "mail [email] or [email], call [phone number] or [phone number], ssn [ssn]"
PII_DETAILS = {
    "note": "sign-in from 203.0.113.9 and 2001:db8::1",
    "payment": {"card": "4111 1111 1111 1111", "iban": "DE89 3704 0044 0532 0130 00"},
    "tags": ["callback +44 20 7946 0958", "plain"],
}
PII_DETAILS_REDACTED = {
    "note": "sign-in from [ip address] and [ip address]",
    "payment": {"card": "[card number]", "iban": "[iban]"},
    "tags": ["callback [phone number]", "plain"],
}
# Not personal data: an AWS account id, a time, a version, an epoch in ms, a card-like number
# that fails the Luhn check, a UUID, a ticket and a dated id
NOT_PII = (
    "account 111111111111 at 2026-10-14T10:00:00Z, build 10.0.19041, epoch 1733011200000, "
    "ref 4111111111111112, id 3f2504e0-4f89-11d3-9a0c-0305e82c3301, SUP-12345, evt-2026-10-14"
)
TEXT_COLUMNS = ("actor_id", "user_agent", "service", "action", "resource_type", "outcome")


def _event(n: int, tenant: str, **fields) -> dict:
    row = {
        "event_id": f"hostile-{n}",
        "occurred_at": "2026-10-14T10:00:00Z",
        "tenant_id": tenant,
        "global_scope": None,
        "scope_justification": None,
        "actor_id": f"usr_{n}",
        "actor_tenant_id": tenant,
        "actor_email": "ops@example.com",
        "actor_ip": "198.51.100.7",
        "user_agent": "curl/8.4",
        "service": "app-api",
        "action": "record.read",
        "resource_type": "record",
        "resource_id": f"rec_{n}",
        "outcome": "success",
        "reason": None,
        "details": {"note": "routine"},
    }
    row.update(fields)
    return row


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    from orchestration.runner import available_periods, build, export
    from tenantproof.demo.generate import generate

    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(root))
        mp.setenv(AS_OF_ENV, AS_OF.isoformat())
        home = Home(root).ensure()
        generate(root, tenants=3, events=400, seed=5, as_of=AS_OF)
        registry = home.landing / "tenants" / "tenants.csv"
        with registry.open("a", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            for tenant_id, name, klass, region in HOSTILE:
                writer.writerow([tenant_id, name, klass, region, "2025-01-01T00:00:00Z", ""])
            writer.writerow(
                [INVALID_ID, "Unicode Co", "standard", "eu", "2025-01-01T00:00:00Z", ""]
            )
        rows = [
            _event(1, "beta", reason="shared runbook with Ümlaut Werke ops"),
            _event(2, "t1", reason="ticket raised by Beta Industries admin"),
            _event(3, "acme", reason="escalated from acme-eu support queue"),
            _event(4, "acme-eu", reason="own queue of acme-eu", details={"note": "see Acme Corp"}),
            _event(5, "eu", reason="moved to 2026-10 tenant"),
            _event(6, "2026-10", reason="routine for eu region"),
            _event(7, "t1", details={"note": "copied from Ümlaut Werke", "n": 3}),
            _event(8, INVALID_ID, reason="unicode id"),
            *(_event(10 + i, "t1", **{c: f"x acme-eu {c}"}) for i, c in enumerate(TEXT_COLUMNS)),
            _event(30, "t1", reason=PII_REASON, details=PII_DETAILS),
            _event(31, "t1", reason=NOT_PII),
            _event(32, "t1", reason="a" * 1_000_000),  # a 1 MB cell
            _event(33, "t1", details={"blob": "b" * 3_000_000}),  # a 3 MB cell
            _event(34, "t1", reason="c" * (MAX_CELL_BYTES + 1)),  # over the stated limit
        ]
        path = home.landing / "audit_events" / "part-hostile.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        build(settings_for(home))
        export(settings_for(home), available_periods(home, "2026-10"), None)
        yield home


def _events(home: Home) -> dict[str, dict]:
    found = {}
    for path in home.exports.glob("*/*/2026-10/audit_events.parquet"):
        for row in read_table(path, home.root).to_pylist():
            if row["event_id"].startswith("hostile-"):
                found[row["event_id"]] = row
    return found


def test_hostile_registry_every_tenant_exports(hostile: Home):
    published = {p.parent.parent.name for p in hostile.exports.glob("*/*/2026-10/manifest.json")}
    assert {t for t, *_ in HOSTILE} <= published  # acme and acme-eu, eu and 2026-10 too


def test_hostile_mentions_are_scrubbed_in_every_text_column_and_json(hostile: Home):
    events = _events(hostile)
    assert events["hostile-1"]["reason"] == f"shared runbook with {OTHER_TENANT} ops"
    assert events["hostile-2"]["reason"] == f"ticket raised by {OTHER_TENANT} admin"
    assert events["hostile-3"]["reason"] == f"escalated from {OTHER_TENANT} support queue"
    assert events["hostile-4"]["reason"] == "own queue of acme-eu"
    assert OTHER_TENANT in events["hostile-4"]["details"]
    assert events["hostile-5"]["reason"] == f"moved to {OTHER_TENANT} tenant"
    assert events["hostile-6"]["reason"] == f"routine for {OTHER_TENANT} region"
    assert json.loads(events["hostile-7"]["details"])["note"] == f"copied from {OTHER_TENANT}"
    for i, column in enumerate(TEXT_COLUMNS):
        value = events[f"hostile-{10 + i}"][column]
        if value is not None:  # a redaction profile may drop or hash it
            assert "acme-eu" not in value


def test_free_text_personal_data_is_redacted_in_text_and_json(hostile: Home):
    events = _events(hostile)
    assert events["hostile-30"]["reason"] == PII_REASON_REDACTED
    assert json.loads(events["hostile-30"]["details"]) == PII_DETAILS_REDACTED
    assert events["hostile-31"]["reason"] == NOT_PII  # nothing that only looks like it
    csv_text = next(hostile.exports.glob("*/t1/2026-10/audit_events.csv")).read_text("utf-8")
    for value in ("jane.doe@", "555-0134", "123-45-6789", "203.0.113.9", "4111 1111", "DE89"):
        assert value not in csv_text
    assert "[email]" in csv_text


def test_cells_of_1_and_3_mb_are_exported_and_verified_and_bigger_ones_quarantined(
    hostile: Home,
):
    from exports.verify import verify_bundle

    events = _events(hostile)
    assert events["hostile-32"]["reason"] == "a" * 1_000_000
    assert json.loads(events["hostile-33"]["details"]) == {"blob": "b" * 3_000_000}
    assert "hostile-34" not in events
    bundle = next(hostile.exports.glob("*/t1/2026-10"))
    report = verify_bundle(bundle, platform_key(hostile))
    assert report.ok, report.problems
    con = connect(hostile.warehouse, read_only=True)
    try:
        refused = con.execute(
            "select reason_code, field, reason from raw.quarantine "
            "where source = 'audit_events' and record like '%hostile-34%'"
        ).fetchall()
    finally:
        con.close()
    assert refused == [
        (
            "cell_too_large",
            "reason",
            f"field reason: {MAX_CELL_BYTES + 1} bytes, over the 4 MiB a cell may hold",
        )
    ]


def test_a_unicode_tenant_id_is_refused_and_its_rows_say_why(hostile: Home):
    con = connect(hostile.warehouse, read_only=True)
    try:
        refused = con.execute(
            "select reason_code, reason from raw.quarantine where source = 'tenants' "
            "and tenant_hint = ?",
            [INVALID_ID],
        ).fetchall()
        rows = con.execute(
            "select reason_code, reason from raw.quarantine where source = 'audit_events' "
            "and tenant_hint = ?",
            [INVALID_ID],
        ).fetchall()
    finally:
        con.close()
    assert [r[0] for r in refused] == ["invalid_tenant_id"]
    assert [r[0] for r in rows] == ["invalid_tenant"]
    assert "tenants.csv line" in rows[0][1]


def test_planted_leaks_withhold_their_bundles_alone(hostile: Home, tmp_path: Path, monkeypatch):
    """Two leaking tenants among many, an unscrubbed mention (beta) and an unredacted email in a
    JSON value (t1): their bundles are withheld, every other bundle is published whole, the run
    fails naming the withheld bundles and the failed checks, and the incident is logged (ids
    and counts)."""
    import shutil

    from exports.contract import MANIFEST
    from orchestration.runner import export
    from tenantproof.core.oplogs import read_isolation_incidents

    root = tmp_path / "copy"
    shutil.copytree(hostile.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    home = Home(root)
    shutil.rmtree(home.exports)
    con = connect(home.warehouse)
    try:
        con.execute(
            "update marts.fct_audit_events set reason = 'handover to ümlaut WERKE' "
            "where event_id = 'hostile-1' and tenant_id = 'beta'"
        )
        con.execute(
            'update marts.fct_audit_events set details = \'{"note": "write to a.b@example.org"}\' '
            "where event_id = 'hostile-30' and tenant_id = 't1'"
        )
        tenants = [
            r[0]
            for r in con.execute(
                "select distinct tenant_id from export.rpt_tenant_audit_events "
                "where period = '2026-10'"
            ).fetchall()
        ]
    finally:
        con.close()
    assert len(tenants) >= 8 and {"beta", "t1"} <= set(tenants)
    with pytest.raises(SystemExit) as failed_run:
        export(settings_for(home), ["2026-10"], None)
    said = str(failed_run.value)
    assert re.search(r"2 bundle\(s\) withheld, failing validation: beta 2026-10, t1 2026-10", said)
    assert (
        "foreign_mentions" in said
        and "pii_redaction:expect_column_values_to_be_in_set(email)" in said
    )
    published = {p.parent.parent.name for p in home.exports.glob(f"*/*/2026-10/{MANIFEST}")}
    assert published == set(tenants) - {"beta", "t1"}
    assert not list(home.exports.glob("*/beta/2026-10")) and not list(
        home.exports.glob("*/t1/2026-10")
    )
    assert [p for p in home.staging.iterdir() if p.is_dir()] == []  # staged files gone too
    incidents, _ = read_isolation_incidents(home.isolation_log)
    assert "beta" in {i["tenant_id"] for i in incidents if i["source"] == "export_validation"}
    failed = json.loads(next(home.staging.glob("*.failed.json")).read_text("utf-8"))
    assert failed["withheld"] == [
        {"tenant_id": "beta", "period": "2026-10"},
        {"tenant_id": "t1", "period": "2026-10"},
    ]
    assert "mlaut" not in json.dumps(failed) and "a.b@" not in json.dumps(failed)


def test_an_empty_month_publishes_once_and_a_retry_publishes_nothing_new(
    hostile: Home, tmp_path: Path, monkeypatch
):
    import shutil

    from exports.contract import MANIFEST
    from orchestration.runner import export

    root = tmp_path / "copy"
    shutil.copytree(hostile.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    home = Home(root)
    export(settings_for(home), ["2025-12"], ["t1"])  # no activity: passes, exit 0
    (manifest,) = home.exports.glob(f"*/t1/2025-12/{MANIFEST}")
    first = json.loads(manifest.read_text("utf-8"))
    assert first["validation"]["success"] is True
    assert {f["name"]: f["rows"] for f in first["files"]}["audit_events.parquet"] == 0
    before = manifest.read_bytes()
    export(settings_for(home), ["2025-12"], ["t1"])  # the retry
    assert manifest.read_bytes() == before  # the same bundle, not published again
