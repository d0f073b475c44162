"""``python -m oms_kit serve`` as a person runs it: it starts, prints where and with which token, answers the API,
and stops cleanly on SIGINT or SIGTERM (closing the OMS, so a DuckDB file keeps what was placed)."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_S = 60


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the command; return it and its output up to the line that says how to stop it."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    for name in ("OMS_KIT_DATABASE_URL", "DATABASE_URL", "OMS_KIT_TOKEN", "OMS_KIT_READ_ONLY_TOKEN"):
        if not env or name not in env:
            environment.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "oms_kit", "serve", "--port", "0", *args], cwd=ROOT,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    pending = b""
    deadline = time.monotonic() + STARTUP_S
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    while time.monotonic() < deadline:
        # Raw reads: a buffered readline could hold lines that select() no longer sees in the pipe.
        ready, _, _ = select.select([descriptor], [], [], 0.5)
        if ready:
            chunk = os.read(descriptor, 4096)
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            lines.extend(line.decode() for line in complete)
            if any("stop with Ctrl-C" in line for line in lines):
                return process, lines
        elif process.poll() is not None:
            break
    process.kill()
    _, err = process.communicate()
    raise AssertionError(f"the server did not start: {lines} {err}")


def url_and_token(lines: list[str]) -> tuple[str, str | None]:
    text = "\n".join(lines)
    url = re.search(r"at (http://127\.0\.0\.1:\d+)$", text, re.MULTILINE)
    token = re.search(r"^  token: (\S+)$", text, re.MULTILINE)
    assert url is not None, text
    return url.group(1), None if token is None or token.group(1) == "as" else token.group(1)


def stop(process: subprocess.Popen[str], sig: int) -> tuple[int, str, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_prints_its_url_and_token_answers_and_stops_on_a_signal(sig):
    process, lines = start()
    try:
        url, token = url_and_token(lines)
        assert token is not None and len(token) >= 40
        assert f"{url}/docs?token={token}" in "\n".join(lines)
        with httpx.Client(base_url=url + "/api/oms") as client:
            status = client.get("/status", headers={"Authorization": f"Bearer {token}"})
            refused = client.get("/status")
            order = client.post("/orders", json={"symbol": "RELIANCE", "side": "BUY", "quantity": 1},
                                headers={"Authorization": f"Bearer {token}"})
    finally:
        code, out, err = stop(process, sig)

    assert status.status_code == 200 and status.json()["backend"] == "duckdb"
    assert status.json()["durable"] is False and status.json()["feed"]["running"] is True  # the random walk
    assert refused.status_code == 401
    assert order.status_code == 201 and order.json()["status"] == "FILLED"
    assert code == 0, err
    assert "oms_kit: stopped" in out and "Traceback" not in err


def test_serve_with_a_given_token_a_read_only_token_and_a_database_file(tmp_path):
    database = f"duckdb:///{tmp_path}/served.duckdb"
    process, lines = start("--db", database, "--account", "bot", "--token", "given-token",
                           env={"OMS_KIT_READ_ONLY_TOKEN": "watcher-token"})
    try:
        url, token = url_and_token(lines)
        with httpx.Client(base_url=url + "/api/oms") as client:
            placed = client.post("/orders", json={"symbol": "TCS", "side": "BUY", "quantity": 2},
                                 headers={"Authorization": "Bearer given-token"})
            watched = client.get("/orders", headers={"Authorization": "Bearer watcher-token"})
            refused = client.post("/risk/kill-switch", json={"reason": "watcher"},
                                  headers={"Authorization": "Bearer watcher-token"})
    finally:
        code, out, err = stop(process, signal.SIGTERM)

    assert token is None and "given-token" not in "\n".join(lines) and "watcher-token" not in out
    assert "account 'bot' (duckdb, durable)" in lines[0]
    assert placed.status_code == 201
    assert [o["order_id"] for o in watched.json()] == [placed.json()["order_id"]]
    assert refused.status_code == 403
    assert code == 0, err

    check = (f"import asyncio, oms_kit as ok\n"
             f"async def main():\n"
             f"    oms = await ok.OMS.open({database!r}, account='bot', feed=None, risk_interval=None)\n"
             f"    print(oms.orders()['order_id'].tolist(), oms.position('TCS'))\n"
             f"    await oms.close()\n"
             f"asyncio.run(main())\n")
    reopened = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=60,
                              check=False)
    assert reopened.stdout.strip() == f"[{placed.json()['order_id']!r}] 2", reopened.stderr


def test_serve_on_a_port_in_use_says_so_and_exits_1():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        done = subprocess.run([sys.executable, "-m", "oms_kit", "serve", "--port", str(taken.getsockname()[1])],
                              capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "OMS_KIT_DATABASE_URL": "memory"})
    finally:
        taken.close()

    assert done.returncode == 1
    assert "invalid port" in done.stderr and "Traceback" not in done.stderr
