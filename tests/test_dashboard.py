"""The analysts' dashboard (spec §5.3: tenant-filterable): headless with Streamlit's AppTest, and
in a real browser (headless Chromium from Debian's packages) loading the page from a local
Streamlit server. Both run on a home that holds only the built home's analytics snapshot: the
dashboard never needs the warehouse file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantproof.analytics.snapshot import STATUS_STYLE, read_table
from tenantproof.core.home import PROJECT_DIR, Home
from tenantproof.core.settings import HOME_ENV
from tests.conftest import BuiltHome

APP = PROJECT_DIR / "dashboard" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
# Set by .ci/run: there the browser test must run, so a missing Chromium fails it.
REQUIRE_BROWSER_ENV = "TENANTPROOF_REQUIRE_BROWSER"
NO_CHROMIUM = (
    "headless Chromium not installed (/usr/bin/chromium): `apt-get install chromium`; "
    f".ci/run installs it and sets {REQUIRE_BROWSER_ENV}=1, which fails this test without it"
)


def tenant_ids_in(text: str) -> set[str]:
    return set(re.findall(r"\bt\d+\b", text))


def page_texts(at) -> str:
    parts = [m.value for m in at.markdown]
    parts += [t.value.to_csv() for t in at.table]
    return "\n".join(parts)


@pytest.fixture
def snapshot_home(built: BuiltHome, tmp_path: Path) -> Iterator[Home]:
    """A home holding only the built home's analytics/ folder; still only that after the app
    ran (it did not open, or create, a warehouse file)."""
    home = Home(tmp_path / "snapshot-home")
    shutil.copytree(built.home.analytics, home.analytics)
    yield home
    assert [p.name for p in home.root.iterdir()] == ["analytics"]


@pytest.fixture
def app(snapshot_home: Home, monkeypatch: pytest.MonkeyPatch):
    from streamlit.testing.v1 import AppTest

    assert not snapshot_home.warehouse.exists()
    monkeypatch.setenv(HOME_ENV, str(snapshot_home.root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_the_dashboard_shows_every_tenant_by_default(app, built: BuiltHome) -> None:
    matrix = next(m.value for m in app.markdown if "freshness-matrix" in m.value)
    assert tenant_ids_in(matrix) == set(built.identifiers)
    assert "stale" in matrix, "the generator plants one stale control"
    assert [s.value for s in app.subheader][:1] == [
        "Freshness matrix (controls x tenants) at the end of 2026-11-15"
    ]
    flags = app.table[1].value
    assert {"admin_action_without_reason", "evidence_stale"} <= set(flags["kind"])


def test_filtering_by_a_tenant_shows_only_that_tenant(app, built: BuiltHome) -> None:
    app.sidebar.multiselect[0].set_value(["t2"]).run()
    assert not app.exception, app.exception
    text = page_texts(app)
    assert tenant_ids_in(text) == {"t2"}
    others = [name for t, name in built.identifiers.items() if t != "t2"]
    assert not [name for name in others if name in text]
    matrix = next(m.value for m in app.markdown if "freshness-matrix" in m.value)
    assert matrix.count("<th") == 2 + len(re.findall(r"<tr><th", matrix)), "one tenant column"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Tenants"] == "1"
    controls = app.table[0].value
    applicable = built.query(
        "select control_id from marts.dim_tenant_controls where tenant_id = 't2'"
    )
    assert set(controls["control_id"]) == {r[0] for r in applicable}


def test_a_global_flag_names_only_the_chosen_tenant(app, built: BuiltHome) -> None:
    """Incident inc-000005 is global (a shared service) and late for several tenants: a view
    filtered to one of them shows that tenant alone among the affected, with the total."""
    affected = built.query(
        "select affected_tenants from marts.fct_drift_flags "
        "where kind = 'incident_notification_overdue' and tenant_id is null"
    )
    assert affected and len(affected[0][0]) > 1
    one = affected[0][0][0]
    app.sidebar.multiselect[0].set_value([one]).run()
    flags = app.table[1].value
    global_rows = flags[flags["attributed_to"].str.startswith("global")]
    assert list(global_rows["affected_tenants"]) == [one]
    assert list(global_rows["affected_total"]) == [len(affected[0][0])]


def test_the_time_window_filters_the_flags(app, built: BuiltHome) -> None:
    import datetime as dt

    def shown() -> int:
        return int({m.label: m.value for m in app.metric}["Drift flags"])

    total = built.query("select count(*) from marts.fct_drift_flags")[0][0]
    assert shown() == total, "by default every open flag that began by the window's end"
    app.sidebar.checkbox[0].check().run()
    app.sidebar.date_input[0].set_value((dt.date(2026, 11, 1), dt.date(2026, 11, 15))).run()
    assert not app.exception, app.exception
    in_window = built.query(
        "select count(*) from marts.fct_drift_flags "
        "where detected_at >= timestamp '2026-11-01' and detected_at <= timestamp '2026-11-15'"
    )[0][0]
    assert shown() == in_window < total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


async def drive(
    ws_url: str, page: str, screenshot: Path, matrix_shot: Path
) -> tuple[str, list[str]]:
    """Load the page over the DevTools protocol, wait until the matrix is rendered (the page
    is a live app: --screenshot alone captures its loading skeleton), then take a screenshot
    of the page, one clipped to the freshness matrix, and the DOM; return the DOM and every URL
    the page requested."""
    import base64

    from websockets.asyncio.client import connect  # the dev extra pins it

    conn = await connect(ws_url, max_size=64 << 20)
    counter = iter(range(1, 1_000_000))
    requested: list[str] = []

    async def call(method: str, **params) -> dict:
        ident = next(counter)
        await conn.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await conn.recv())
            if message.get("method") == "Network.requestWillBeSent":
                requested.append(message["params"]["request"]["url"])
            if message.get("id") == ident:
                return message.get("result", {})

    async def evaluate(expression: str):
        result = await call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    await call("Network.enable")
    await call("Page.enable")
    await call("Page.navigate", url=page)
    deadline = time.monotonic() + 60
    ready = "document.querySelectorAll('table.freshness-matrix td').length"
    charts = "document.querySelectorAll('canvas, svg.marks').length"
    while time.monotonic() < deadline:
        if (await evaluate(ready) or 0) > 0 and (await evaluate(charts) or 0) > 0:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # let the last paint settle
    shot = await call("Page.captureScreenshot", format="png")
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    # the matrix's box in page coordinates, once scrolled into view (Streamlit scrolls an inner
    # container, and what is outside the viewport is not painted)
    await evaluate("document.querySelector('table.freshness-matrix').scrollIntoView()")
    await asyncio.sleep(0.5)
    box = await evaluate(
        "(() => { const r = document.querySelector('table.freshness-matrix')"
        ".getBoundingClientRect(); return {x: r.left + window.scrollX, "
        "y: r.top + window.scrollY, width: r.width, height: r.height}; })()"
    )
    clipped = await call("Page.captureScreenshot", format="png", clip={**box, "scale": 1})
    matrix_shot.write_bytes(base64.b64decode(clipped["data"]))
    dom = await evaluate("document.documentElement.outerHTML")
    await conn.close()
    return dom or "", requested


def chromium_or_skip(path: Path = CHROMIUM) -> Path:
    """The browser; without it a skip that says why, or a failure where the test must run."""
    if path.exists():
        return path
    reason = NO_CHROMIUM.replace(str(CHROMIUM), str(path))
    if os.environ.get(REQUIRE_BROWSER_ENV) == "1":
        pytest.fail(f"{REQUIRE_BROWSER_ENV}=1 and {reason}")
    pytest.skip(reason)


def test_a_missing_browser_skips_unless_the_browser_test_is_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = tmp_path / "chromium"
    monkeypatch.delenv(REQUIRE_BROWSER_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="headless Chromium not installed"):
        chromium_or_skip(absent)
    monkeypatch.setenv(REQUIRE_BROWSER_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE_BROWSER_ENV}=1 and headless"):
        chromium_or_skip(absent)
    assert chromium_or_skip(Path(sys.executable)) == Path(sys.executable)


def rgb(css: str) -> tuple[int, int, int]:
    """The background colour of a style ('background:#e3f9e5;...')."""
    value = re.search(r"background:#([0-9a-f]{6})", css).group(1)
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def test_a_real_browser_renders_the_freshness_matrix(
    built: BuiltHome, snapshot_home: Home, tmp_path: Path
) -> None:
    chromium = chromium_or_skip()
    port = free_port()
    env = {**os.environ, HOME_ENV: str(snapshot_home.root)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--client.toolbarMode",
            "minimal",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    profile = tmp_path / "profile"
    browser = None
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", 60)
        browser = subprocess.Popen(
            [
                str(chromium),
                "--headless",
                "--force-color-profile=srgb",  # the cells' colours as the page states them
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1400,1000",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not active.exists() or not active.read_text().strip():
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.2)
        devtools = int(active.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json/list", timeout=5) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        screenshot, matrix_shot = tmp_path / "dashboard.png", tmp_path / "matrix.png"
        dom, requested = asyncio.run(
            drive(
                target["webSocketDebuggerUrl"],
                f"http://127.0.0.1:{port}/",
                screenshot,
                matrix_shot,
            )
        )
    finally:
        for process in (browser, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
    keep = os.environ.get("TENANTPROOF_SCREENSHOT")
    if keep:
        shutil.copy(screenshot, keep)
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 30_000, "a rendered page, not a blank one"
    # The clip of the matrix holds each status's cell colour exactly for the statuses the
    # snapshot has (every tenant, as of its time: the default view), and no other status's.
    from PIL import Image  # installed with streamlit

    with Image.open(matrix_shot) as image:
        assert image.width > 300 and image.height > 100, "the matrix's box, not an empty one"
        pixels = {colour: n for n, colour in image.convert("RGB").getcolors(1 << 24)}
    shown = {s: pixels.get(rgb(STATUS_STYLE[s]), 0) for s in ("fresh", "stale", "missing")}
    statuses = set(read_table(snapshot_home.analytics, "evidence_freshness")["status"])
    assert {"fresh", "stale"} <= statuses
    assert {s for s, n in shown.items() if n > 0} == statuses, shown
    assert min(shown[s] for s in statuses) > 500, shown  # whole cells, not a stray pixel
    assert 'class="freshness-matrix"' in dom
    matrix = dom[dom.index('class="freshness-matrix"') :]
    matrix = matrix[: matrix.index("</table>")]
    assert "IS-1" in matrix and "stale" in matrix and "fresh" in matrix
    assert tenant_ids_in(matrix) == set(built.identifiers)
    local = (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/", "data:", "blob:", "about:")
    assert requested and [u for u in requested if not u.startswith(local)] == [], (
        "the page loads nothing from outside the local server (offline)"
    )
