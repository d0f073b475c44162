"""The dashboard in a real browser: JupyterLab and Voila on free localhost ports, Debian's headless Chromium.

Each test serves a copy of notebooks/dashboard.ipynb, places an order through the ticket, sees it in the orders
panel, places a GTT through the ticket, sees it in the standing orders panel (beside the notebook's GTT and trailing
stop) and deletes it there, presses KILL SWITCH, and sees HALTED and the order cancelled. Screenshots go to
test-artifacts/ (after each step, and on failure). Playwright's sync API is used (it refuses to run inside a running
asyncio loop).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("OMS_KIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 90  # a cold start on a busy 2-core machine
STEP_MS = 60_000  # each step in the page: generous, CI machines are shared

pytestmark = pytest.mark.slow


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found; install it with: apt-get install -y chromium (or set OMS_KIT_CHROMIUM)"
        if in_ci():
            pytest.fail(f"CI=true and no browser: {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the notebook (a server's autosave must never rewrite the committed one) and private config dirs."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK.name)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No news or update toast over the page.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return tmp_path


def server_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_CURRENT_TEST", "OMS_KIT_DATABASE_URL", "DATABASE_URL", "OMS_KIT_WATCH_URL")}
    env.update(
        # The kernel imports this checkout's packages; the notebook stays live (it closes only under pytest).
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        JUPYTER_CONFIG_DIR=str(workdir / "config"),
        JUPYTER_DATA_DIR=str(workdir / "data"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(workdir / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        IPYTHONDIR=str(workdir / "ipython"),
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(command: list[str], probe: str, workdir: Path, name: str,
           env: dict[str, str] | None = None) -> Iterator[None]:
    """Run a server until the block ends; ready when ``probe`` answers 200. Its output goes to test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{name}-server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env={**server_env(workdir), **(env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while True:
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode} before it was ready; see {log_path}:\n"
                                + log_path.read_text(errors="replace")[-3000:], pytrace=False)
                with contextlib.suppress(OSError), urllib.request.urlopen(probe, timeout=2) as answer:
                    if answer.status == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"{name} not ready after {SERVER_START_S} s ({probe}); see {log_path}", pytrace=False)
                time.sleep(0.25)
            yield
        finally:
            process.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextlib.contextmanager
def browser_page(chromium: Path, name: str, height: int = 1100) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": height})
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            try:
                yield page
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
                raise
            finally:
                (ARTIFACTS / f"{name}-console.log").write_text("\n".join(console))
        finally:
            browser.close()


def shot(page: object, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def drive_dashboard(page: object, name: str) -> None:
    """Fill the ticket from the watchlist, place an order through it, see it in the orders panel, press KILL SWITCH,
    see HALTED and the cancel."""
    from playwright.sync_api import expect

    dashboard = page.locator(".oms-dashboard")  # type: ignore[attr-defined]
    expect(dashboard, "the dashboard never appeared").to_be_visible(timeout=STEP_MS)
    state = dashboard.locator(".oms-header .oms-state")
    expect(state, "the header should say ACTIVE").to_have_text("ACTIVE", timeout=STEP_MS)
    shot(page, f"{name}-1-active")

    ticket = dashboard.locator(".oms-ticket")
    dashboard.locator(".oms-watchlist .oms-watch-select", has_text="RELIANCE").click()  # a watchlist row's click
    expect(ticket.locator(".oms-symbol input"), "the watchlist should fill the ticket").to_have_value(
        "RELIANCE", timeout=STEP_MS)
    ticket.locator(".oms-quantity input").fill("7")
    ticket.locator(".oms-order-type select").select_option("LIMIT")
    ticket.locator(".oms-price input").fill("2400")  # 4 % under the walk's start: rests, inside the price collar
    expect(ticket.locator(".oms-ticket-feedback"), "the ticket's live check should pass").to_contain_text(
        "passes all", timeout=STEP_MS)
    ticket.locator(".oms-place").click()
    result = ticket.locator(".oms-ticket-result")
    expect(result, "the ticket should show the order id and OPEN").to_contain_text("OPEN", timeout=STEP_MS)
    order_id = re.search(r"O-\S+", result.inner_text()).group(0)  # type: ignore[union-attr]

    row = dashboard.locator(f".oms-orders .oms-order-{order_id}")
    expect(row, f"order {order_id} should be in the orders panel").to_be_visible(timeout=STEP_MS)
    expect(row).to_contain_text("RELIANCE")
    shot(page, f"{name}-2-order-placed")

    standing = dashboard.locator(".oms-standing")
    expect(standing.locator(".oms-gtt-row"), "the notebook's two-leg GTT").to_contain_text("two-leg")
    expect(standing.locator(".oms-program-row"), "the notebook's trailing stop").to_contain_text("trailing")
    ticket.locator(".oms-ticket-kind select").select_option(label="GTT single")
    expect(ticket.locator(".oms-stoploss"), "a GTT has no stop-loss field").to_be_hidden()
    ticket.locator(".oms-price input").fill("2000")
    ticket.locator(".oms-gtt-trigger input").fill("2000.5")
    expect(ticket.locator(".oms-ticket-feedback"), "the GTT's trigger should be checked").to_contain_text(
        "reaches ▼2,000.50", timeout=STEP_MS)
    ticket.locator(".oms-place").click()
    expect(result, "the ticket should show the GTT's id").to_contain_text("GTT single active", timeout=STEP_MS)
    gtt_id = re.search(r"G-\d+", result.inner_text()).group(0)  # type: ignore[union-attr]
    gtt_row = standing.locator(f".oms-gtt-{gtt_id}")
    expect(gtt_row, f"GTT {gtt_id} should be in the standing orders").to_contain_text("▼2,000.50", timeout=STEP_MS)
    shot(page, f"{name}-3-gtt-placed")
    dashboard.screenshot(path=str(ARTIFACTS / f"{name}-dashboard-live.png"))
    gtt_row.locator(".oms-gtt-delete").click()
    expect(gtt_row, f"GTT {gtt_id} should leave the panel once deleted").to_have_count(0, timeout=STEP_MS)

    dashboard.locator(".oms-kill").click()
    expect(state, "the header should say HALTED after KILL SWITCH").to_have_text("HALTED", timeout=STEP_MS)
    expect(row, f"order {order_id} should leave the orders panel").to_have_count(0, timeout=STEP_MS)
    history_row = dashboard.locator(".oms-history-orders tr", has_text=order_id)
    expect(history_row, f"the history should show {order_id} CANCELLED").to_contain_text("CANCELLED",
                                                                                        timeout=STEP_MS)
    expect(dashboard.locator(".oms-error:visible"), "no panel should show an error").to_have_count(0)
    shot(page, f"{name}-4-halted")
    dashboard.screenshot(path=str(ARTIFACTS / f"{name}-dashboard-halted.png"))


def test_dashboard_in_jupyterlab(chromium: Path, workdir: Path) -> None:
    from playwright.sync_api import expect

    port, token = free_port(), "oms-kit-browser-test"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={workdir / 'notebooks'}"]
    base = f"http://127.0.0.1:{port}"
    with server(command, f"{base}/api/status?token={token}", workdir, "lab"), browser_page(chromium, "lab") as page:
        page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", timeout=STEP_MS)  # type: ignore[attr-defined]
        expect(page.locator("#jp-main-statusbar"), "the kernel never became idle").to_contain_text(  # type: ignore
            "(ipykernel) | Idle", timeout=STEP_MS)
        page.get_by_role("menuitem", name="Run", exact=True).click()  # type: ignore[attr-defined]
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()  # type: ignore[attr-defined]
        drive_dashboard(page, "lab")


def voila(port: int) -> list[str]:
    return [sys.executable, "-m", "voila", f"notebooks/{NOTEBOOK.name}", "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1"]


def test_dashboard_as_a_voila_app(chromium: Path, workdir: Path) -> None:
    port = free_port()
    command = voila(port)
    base = f"http://127.0.0.1:{port}"
    # Not GET /: each load of the page runs the notebook in a new kernel.
    with server(command, f"{base}/voila/static/voila.js", workdir, "voila"), browser_page(chromium, "voila",
                                                                                               height=1700) as page:
        page.goto(base, timeout=STEP_MS)  # type: ignore[attr-defined]
        drive_dashboard(page, "voila")


@pytest.mark.postgres
def test_read_only_voila_dashboard_follows_a_session_trading_elsewhere(chromium: Path, workdir: Path,
                                                                      pg_url: str) -> None:
    """The Voila app watching (OMS_KIT_WATCH_URL) an account that this process trades through PostgreSQL."""
    from playwright.sync_api import expect

    import oms_kit as ok

    writer = ok.open_sync(pg_url, feed=None, risk_interval=None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        writer.set_price("RELIANCE", 2500.0)
        writer.place_order("RELIANCE", "BUY", 10, "MARKET")
        with server(voila(port), f"{base}/voila/static/voila.js", workdir, "voila-watch",
                    env={"OMS_KIT_WATCH_URL": pg_url}), browser_page(chromium, "voila-watch", height=1700) as page:
            page.goto(base, timeout=STEP_MS)  # type: ignore[attr-defined]
            dashboard = page.locator(".oms-dashboard")  # type: ignore[attr-defined]
            expect(dashboard, "the dashboard never appeared").to_be_visible(timeout=STEP_MS)
            expect(dashboard.locator(".oms-backend"), "the header should say read-only").to_contain_text(
                "read-only", timeout=STEP_MS)
            expect(dashboard.locator(".oms-kill"), "a watcher has no KILL SWITCH").to_be_hidden()
            expect(dashboard.locator(".oms-place"), "a watcher has no order ticket").to_be_hidden()
            expect(dashboard.locator(".oms-positions-table"), "the writer's position").to_contain_text("RELIANCE")

            resting = writer.place_order("RELIANCE", "SELL", 4, "LIMIT", price=2510)
            row = dashboard.locator(f".oms-orders .oms-order-{resting.order_id}")
            expect(row, "the writer's new order should appear live").to_be_visible(timeout=STEP_MS)
            expect(row.locator(".oms-cancel"), "a watcher cannot cancel").to_be_hidden()
            shot(page, "voila-watch-1-order")
            dashboard.screenshot(path=str(ARTIFACTS / "voila-watch-dashboard.png"))

            writer.kill_switch("halted by the trading session")
            expect(dashboard.locator(".oms-header .oms-state"), "the writer's halt").to_have_text(
                "HALTED", timeout=STEP_MS)
            expect(row, "the cancelled order should leave the panel").to_have_count(0, timeout=STEP_MS)
            shot(page, "voila-watch-2-halted")
    finally:
        writer.close()
