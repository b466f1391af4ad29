"""The dashboard in a real browser: `resq dashboard` serves it on 127.0.0.1, headless
Chromium (Debian's `chromium`, which `make test` installs when missing) opens it, waits for
the page title and the critical-items table, and saves a screenshot.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``), so
no driver, port or browser download is needed. A missing chromium fails this test with the
command that installs it; it is never skipped.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import resq

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INSTALL = "apt-get update && apt-get install -y chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1440,2000",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            f"the dashboard browser test needs Debian's chromium: run `{INSTALL}` as root "
            "(`make test` does it when it runs as root)"
        )
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until(what: str, check: Any, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class DevTools:
    """A minimal Chrome DevTools Protocol client over chromium's debugging pipe
    (fd 3 in, fd 4 out; each message is JSON ending in a NUL byte)."""

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def fds() -> None:  # in the child, before exec: the pipe ends at fds 3 and 4
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)  # out of 3 and 4's way
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)  # dup2 copies are inheritable: they survive the exec
            os.dup2(high_w, 4)

        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            close_fds=False,  # keep fds 3 and 4 (other pipe ends are close-on-exec)
            preexec_fn=fds,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.session: str | None = None

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def _read(self, deadline: float, method: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise AssertionError(f"chromium did not answer {method} in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise AssertionError(f"chromium closed the debugging pipe during {method}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def open_page(self) -> None:
        """Attach to a fresh page target; later page commands go to it."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def close(self) -> None:
        try:
            os.close(self._to_browser)  # chromium exits when its pipe closes
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        finally:
            os.close(self._from_browser)
            self._log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`resq dashboard` on a free loopback port over a seeded, healed DuckDB file."""
    db = f"duckdb:///{tmp_path}/browser.duckdb"
    backend = resq.connect(db)
    backend.init()
    engine = resq.SelfHealingEngine(backend)
    engine.seed()
    engine.drop_stock("HOSP-BLR-001", "OXY-CYL", 0, actor="browser-test")
    engine.heal()
    # an OK relief kit whose preferred vendor (Dunzo) is offline: the Validation page's heal
    # orders it from Blinkit, the fallback the page shows for that cycle
    engine.drop_stock("NGO-BLR-001", "KIT-EMR", 0, actor="browser-test")
    backend.close()  # DuckDB: the dashboard's process must be the only one on the file
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from resq.cli import main; main()",
            "--db",
            db,
            "dashboard",
            "--port",
            str(port),
            "--headless",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "RESQ_ACTOR": "browser-test"},
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if server.poll() is not None:
            raise AssertionError(
                f"resq dashboard exited with {server.returncode}:\n"
                + (tmp_path / "streamlit.log").read_text(errors="replace")
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        _wait_until("the dashboard to serve", healthy, timeout=60)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)  # `resq dashboard` passes it on to streamlit
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    assert server.returncode == 0, (tmp_path / "streamlit.log").read_text(errors="replace")
    with pytest.raises(OSError):  # stopped with the command: no server left behind
        urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)


TABLE = "[data-testid='stDataFrame']"
CHARTS = "[data-testid='stVegaLiteChart']"
CRITICAL_TABLE = f".st-key-critical-items {TABLE}"
CHARTS_DRAWN = (
    'document.querySelectorAll(\'[data-testid="stVegaLiteChart"] canvas, '
    '[data-testid="stVegaLiteChart"] svg\').length'
)
RUNNING = "!!document.querySelector('[data-testid=\"stStatusWidget\"] button')"
# The script run is over and no element of the previous run is still shown (Streamlit
# keeps a rerun's old elements, marked stale, until the new ones replace them).
SETTLED = f"(!{RUNNING} && !document.querySelector('[data-stale=\"true\"]'))"
# What each element matching a selector has drawn: its width, its data marks (a Vega
# chart's svg items under a mark group, not its axes or legend) and its inked canvas pixels
# (sampled; a data table, glide-data-grid, draws its cells on canvas).
DRAWN = """(selector => Array.from(document.querySelectorAll(selector)).map(el => {
  let pixels = 0;
  for (const c of el.querySelectorAll('canvas')) {
    const ctx = c.width && c.height ? c.getContext('2d') : null;
    if (!ctx) continue;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 16)
      if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) pixels++;
  }
  return {
    width: Math.round(el.getBoundingClientRect().width),
    marks: el.querySelectorAll('svg g.role-mark > *').length,
    pixels: pixels,
  };
}))"""
INKED = 200  # canvas pixels below this are an empty frame (a border, a header line)


def _drawn(browser: DevTools, selector: str) -> list[dict[str, int]]:
    found = browser.evaluate(f"{DRAWN}({json.dumps(selector)})")
    return list(found or [])


def _wait_drawn(browser: DevTools, what: str, selector: str, count: int, width: int) -> None:
    """Wait until ``count`` elements match ``selector``, the run has settled, and each is at
    least ``width`` px wide with marks drawn; fail naming what was drawn instead."""

    def ready() -> bool:
        found = _drawn(browser, selector)
        return (
            len(found) >= count
            and bool(browser.evaluate(SETTLED))
            and all(f["width"] >= width and (f["marks"] > 0 or f["pixels"] >= INKED) for f in found)
        )

    try:
        _wait_until(what, ready, timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; drawn: {_drawn(browser, selector)}") from None


def _page_text(browser: DevTools) -> str:
    return str(browser.evaluate("document.body.innerText") or "")


def _screenshot(browser: DevTools, name: str) -> Path:
    """Save the viewport as test-artifacts/NAME and check it is a real, non-empty PNG."""
    time.sleep(1.0)  # let the charts' entry animation settle before the picture
    png = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(png)
    assert png.startswith(PNG_SIGNATURE), f"{name} is not a PNG"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1440, 2000), (width, height)
    assert len(png) > 50_000, f"{name} is suspiciously small ({len(png)} bytes)"
    return path


def _click(browser: DevTools, key: str) -> None:
    selector = f".st-key-{key} button"
    _wait_until(
        f"the {key} button",
        lambda: browser.evaluate(
            f"(() => {{ const b = document.querySelector('{selector}');"
            " if (!b || b.disabled) return false; b.click(); return true; })()"
        ),
        timeout=30,
    )


def test_the_dashboard_renders_and_heals_in_headless_chromium(served: str, tmp_path: Path) -> None:
    browser = DevTools(_chromium(), tmp_path / "profile", tmp_path / "chromium.log")
    try:
        browser.open_page()
        browser.send("Page.enable")
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            width=1440,
            height=2000,
            deviceScaleFactor=1,
            mobile=False,
        )

        # Operations: the title, the critical-items table, the charts.
        browser.send("Page.navigate", url=served)
        _wait_until(
            "the page title",
            lambda: browser.evaluate("document.title") == "Operations · ResQ OS",
            timeout=60,
        )
        _wait_until(
            "the critical-items table",
            lambda: browser.evaluate(f'!!document.querySelector("{CRITICAL_TABLE}")'),
            timeout=60,
        )
        _wait_until(
            "the charts",
            lambda: browser.evaluate(f"{CHARTS_DRAWN} >= 3 && {SETTLED}"),
            timeout=60,
        )
        _wait_drawn(browser, "the charts' marks", CHARTS, count=3, width=300)
        text = _page_text(browser)
        for expected in ("Critical items", "SIMULATED", "HOSPITAL", "Purchase orders"):
            assert expected in text, f"{expected!r} not on the Operations page"
        _screenshot(browser, "dashboard-operations.png")

        # Validation: the checks pass; press the chaos button, then heal, and the order
        # appears with the fallback from Dunzo (offline) to Blinkit.
        browser.send("Page.navigate", url=f"{served}/validation")
        _wait_until(
            "the Validation page",
            lambda: (
                browser.evaluate("document.title") == "Validation · ResQ OS"
                and "4 / 4" in _page_text(browser)
            ),
            timeout=60,
        )
        _click(browser, "chaos_drop")
        _wait_until(
            "the chaos edit",
            lambda: "Chaos (simulated): stock of" in _page_text(browser),
            timeout=30,
        )
        _click(browser, "heal")
        # this cycle's orders (not the previous run's "Latest orders", still shown, stale,
        # while the heal runs)
        _wait_until(
            "the healed cycle's orders",
            lambda: browser.evaluate(SETTLED) and "Orders from cycle CY-" in _page_text(browser),
            timeout=90,
        )
        healed = _page_text(browser).split("Orders from cycle CY-", 1)[1]
        assert "Fallback: preferred vendor Dunzo is OFFLINE" in healed, healed
        assert "ordered from Blinkit" in healed
        # the vendor and weather tables under it, laid out at full width and drawn
        for key in ("signals-vendors", "signals-weather"):
            _wait_drawn(browser, f"the {key} table", f".st-key-{key} {TABLE}", 1, width=300)
        _screenshot(browser, "dashboard-validation.png")
    finally:
        browser.close()


def test_the_whatif_page_replays_a_scenario_in_headless_chromium(
    served: str, tmp_path: Path
) -> None:
    """What-if: the default scenario (Dunzo offline days 1-10, rain in Bangalore days
    20-26), run, and its three charts and the stocked-out items drawn."""
    browser = DevTools(_chromium(), tmp_path / "profile", tmp_path / "chromium.log")
    try:
        browser.open_page()
        browser.send("Page.enable")
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            width=1440,
            height=2000,
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.send("Page.navigate", url=f"{served}/whatif")
        _wait_until(
            "the What-if page",
            lambda: (
                browser.evaluate("document.title") == "What-if · ResQ OS"
                and "Run the replay" in _page_text(browser)
            ),
            timeout=60,
        )
        _click(browser, "whatif_run")
        _wait_until(
            "the replay's charts",
            lambda: browser.evaluate(f"{CHARTS_DRAWN} >= 3 && {SETTLED}"),
            timeout=120,
        )
        _wait_drawn(browser, "the replay charts' marks", CHARTS, count=3, width=300)
        text = _page_text(browser)
        for expected in ("Fill rate by sector", "Items that stocked out", "Dunzo offline"):
            assert expected in text, f"{expected!r} not on the What-if page"
        _screenshot(browser, "dashboard-whatif.png")
    finally:
        browser.close()
