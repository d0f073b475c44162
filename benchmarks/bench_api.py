"""Orders per second over the HTTP API (``POST /api/oms/orders`` and ``/orders/batch``) beside ``oms.place_order``
in the same run.

    python benchmarks/bench_api.py                        # 3 rounds: in-process, then HTTP with 1, 10, 50 clients,
                                                          # then batches of 10 and 20 orders with 50 clients
    python benchmarks/bench_api.py --batch 20 --no-single --client raw      # the batch rows only
    python benchmarks/bench_api.py --batch 20 --no-lane   # batches read by FastAPI's route, not the door's lane
    python benchmarks/bench_api.py --rounds 5 --orders 5000 --clients 1,10,50 --kite   # Kite's route too
    python benchmarks/bench_api.py --client httpx         # one client only (httpx or raw)
    python benchmarks/bench_api.py --server inline        # the server on this process's own loop
    python benchmarks/bench_api.py --profile-server prof.txt --rounds 1 --clients 50   # pyinstrument the server

The order mix is bench_orders.py's: MARKET orders that fill at once on DuckDB in memory, BUY and SELL in turn, with
every pre-trade check on but the throttles a benchmark trips by design. In-process, N callers await
``oms.place_order`` at once (bench_orders.run). Over HTTP, N clients each keep one connection alive and post one
order after another with the Bearer token, and each answer is read and checked (201 and FILLED; Kite's 200 and
success with ``--kite``, its form-encoded ``POST /orders/regular``). The batch rows (``batchN``, ``--batch``: 10
and 20 by default, with the most clients) have each client post N orders at a time to ``POST /api/oms/orders/batch``
and check that every item came back FILLED; at least 20 batches a client, so a run lasts long enough to time.

The server runs in a process of its own by default (``--server process``): that is the setting the API is for,
another process trading the account, and on this 2-core machine it gives the server one core and the clients the
other. It is ``oms.serve()`` on an OMS opened like the in-process one, in this script started with
``--serve-child`` on the loop ``python -m oms_kit serve`` uses (uvloop's), not the command itself, whose random-walk
feed and default throttles (100 orders/s) would reject most of the orders. ``--server inline`` serves on the
benchmark's own asyncio loop instead, as a notebook's ``oms.serve()`` does, so clients and server share one core.

Two clients (``--client both``, the default): httpx's AsyncClient, one per client (what a Python bot and
``oms_kit.connect`` use), and a lean HTTP/1.1 client on asyncio streams (``raw``: one write per request, the answer
read by its Content-Length), which costs a tenth of httpx's CPU per request and so shows what the server itself
takes. The clients run on uvloop when it is installed.

Columns: orders/s; p50/p99 latency of one request as its client sees it (of a whole batch in the batch rows, whose
50 clients keep 500 or 1,000 orders in flight); CPU µs per order of the server's event loop (its main thread), of
the whole server process (with DuckDB's write thread) and of the client process (in the in-process rows, the one
process); the write-behind transactions of the run and rows per transaction. The summary gives each figure's median
and range over the rounds, and the ratio of HTTP with the most clients to in-process with as many callers, round by
round (each round runs both, so the machine's drift moves them alike). The 2 cores are shared and noisy: read the
ranges, not one round. Prints tables; asserts nothing.

What bounds the HTTP figures, as measured here: httpx's CPU per request (700-1,000 µs, on the client's core); on
the server's loop about 50 µs per request for uvicorn with httptools on uvloop and an empty Starlette route, then
the door, the JSON and the OMS (about 240 µs in all at 50 clients, where FastAPI's router and layers cost 80 more
before the door answered orders itself); and orders that arrive over time rather than all at once make the OMS
write behind on DuckDB's thread while it works, so its CPU per order rises from about 60 µs (the in-process run,
one transaction at the end) to 110-180 µs when 50 callers pause 5 ms between orders. A batch pays what a request
costs once for its orders: 55-97 µs of loop CPU per order in batches of 10 or 20 (200-285 one order a request), most
of it the OMS's own, so 50 clients sending batches reach a third of the in-process rate and more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import bench_orders

import oms_kit as ok
from oms_kit.service.command import new_event_loop

SYMBOLS = bench_orders.SYMBOLS
LIMITS = bench_orders.LIMITS
PATH = "/api/oms/orders"
BATCH_PATH = "/api/oms/orders/batch"
KITE_PATH = "/orders/regular"
WARMUP = 20  # requests per client before the clock starts: connections open, first-call costs paid
BATCH_REQUESTS = 20  # batches per client in a batch run, at the least: a run of a few seconds


async def open_oms() -> ok.OMS:
    """An OMS like bench_orders.run's: DuckDB in memory, no feed, the benchmark's limits, prices set."""
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, limits=LIMITS, cash=10**12,
                            account=f"bench-{uuid.uuid4().hex[:8]}")
    for i, symbol in enumerate(SYMBOLS):
        await oms.set_price(symbol, 1000.0 + i * 100)
    return oms


def order_of(k: int, i: int) -> tuple[str, str, int]:
    """The i-th order of caller k, as bench_orders.run places it: symbol, side, quantity."""
    side = "BUY" if i % 2 == 0 else "SELL"
    return SYMBOLS[(k + i) % len(SYMBOLS)], side, 1 + i % 3 if side == "BUY" else 1 + (i - 1) % 3


# -- the server -----------------------------------------------------------------------------------------------------


async def serve_child(token: str, options: dict[str, Any]) -> None:
    """The server process: serve a fresh OMS on a free port, print it, and stop when stdin closes."""
    if options.get("access_log"):  # to stderr, as the command logs (a logger without handlers logs nothing)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    oms = await open_oms()
    server = await oms.serve(port=0, token=token, **options)
    print(f"READY {server.port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes the pipe (or dies)
    await server.stop()
    await oms.close()


def _cpu(stat: str) -> float:
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ChildServer:
    """A server in a process of its own (this script with ``--serve-child``)."""

    def __init__(self, token: str, options: dict[str, Any], profile: str | None = None) -> None:
        command = [sys.executable]
        if profile:
            command += ["-m", "pyinstrument", "-o", profile]
        command += [str(Path(__file__).resolve()), "--serve-child", token, json.dumps(options)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def cpu(self) -> tuple[float, float]:
        """The server process's CPU seconds so far (user and system), from /proc: its event loop's thread (the
        main one), and all its threads."""
        return _cpu(f"/proc/{self.process.pid}/task/{self.process.pid}/stat"), _cpu(f"/proc/{self.process.pid}/stat")

    def stop(self) -> None:
        """Close its stdin (it stops its server and OMS) and wait for it."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the clients ----------------------------------------------------------------------------------------------------

Post = Callable[[int, int], Awaitable[None]]


class Route:
    """What a client posts: one order to ``POST /api/oms/orders`` (``orders``), to Kite's ``POST /orders/regular``
    (``kite``), or ``batch`` orders at a time to ``POST /api/oms/orders/batch`` (``batch``)."""

    def __init__(self, name: str = "orders", batch: int = 1, lane: bool = True) -> None:
        self.name = name
        self.batch = batch if name == "batch" else 1
        # JSON of another media type is FastAPI's to read, not the door's lane's: the route's own cost.
        self.json = "application/json" if lane else "application/vnd.oms+json"
        self.path = {"orders": PATH, "kite": KITE_PATH, "batch": BATCH_PATH}[name]

    @property
    def label(self) -> str:
        """The route's name in the table: http, kite or batchN."""
        label = {"orders": "http", "kite": "kite"}.get(self.name, f"batch{self.batch}")
        return label if self.json == "application/json" or self.name == "kite" else label + "/r"

    def payload(self, k: int, i: int) -> tuple[bytes, str]:
        """The body and content type of client k's i-th request (a batch: its orders i*batch onwards)."""
        if self.name == "batch":
            orders = []
            for j in range(i * self.batch, (i + 1) * self.batch):
                symbol, side, quantity = order_of(k, j)
                orders.append({"symbol": symbol, "side": side, "quantity": quantity})
            return json.dumps({"orders": orders}).encode(), self.json
        symbol, side, quantity = order_of(k, i)
        if self.name == "kite":
            form = {"tradingsymbol": symbol, "exchange": "NSE", "transaction_type": side, "quantity": quantity,
                    "product": "MIS", "order_type": "MARKET"}
            return urlencode(form).encode(), "application/x-www-form-urlencoded"
        return json.dumps({"symbol": symbol, "side": side, "quantity": quantity}).encode(), self.json

    def check(self, status: int, body: bytes) -> None:
        """Raise unless the answer is what the benchmark's orders get: filled (Kite: success)."""
        if self.name == "kite":
            if status != 200 or json.loads(body)["status"] != "success":
                raise RuntimeError(f"Kite order refused: {status} {body[:300]!r}")
        elif self.name == "batch":
            items = json.loads(body) if status == 200 else None
            if not isinstance(items, list) or len(items) != self.batch or \
                    any(item.get("status") != "FILLED" for item in items):
                raise RuntimeError(f"benchmark batch not filled: {status} {body[:300]!r}")
        elif status != 201 or json.loads(body)["status"] != "FILLED":
            raise RuntimeError(f"benchmark order not filled: {status} {body[:300]!r}")


async def httpx_clients(url: str, headers: dict[str, str], clients: int, route: Route,
                        run: Callable[[Post], Awaitable[None]]) -> None:
    """``clients`` httpx AsyncClients, one kept-alive connection each, as that many bots would have. (One shared
    client with a pool of that many connections costs twice the CPU a request at 50: its pool looks at every
    connection on each request.)"""
    import httpx

    pool = [httpx.AsyncClient(base_url=url, headers=headers, timeout=60) for _ in range(clients)]
    try:
        async def post(k: int, i: int) -> None:
            body, kind = route.payload(k, i)
            response = await pool[k].post(route.path, content=body, headers={"content-type": kind})
            route.check(response.status_code, response.content)

        await run(post)
    finally:
        for client in pool:
            await client.aclose()


async def raw_clients(url: str, headers: dict[str, str], clients: int, route: Route,
                      run: Callable[[Post], Awaitable[None]]) -> None:
    """``clients`` kept-alive connections on asyncio streams: one write per request, the answer read by its
    Content-Length (the server always sends one)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    head = f"POST {route.path} HTTP/1.1\r\nHost: {host}:{port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items())
    connections = [await asyncio.open_connection(host, int(port)) for _ in range(clients)]

    async def post(k: int, i: int) -> None:
        reader, writer = connections[k]
        body, kind = route.payload(k, i)
        writer.write(f"{head}content-type: {kind}\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
        route.check(int(lines[0].split(b" ", 2)[1]), await reader.readexactly(length))

    try:
        await run(post)
    finally:
        for _, writer in connections:
            writer.close()


CLIENTS = {"httpx": httpx_clients, "raw": raw_clients}


async def http_run(url: str, token: str, account: str, kind: str, clients: int, orders: int,
                   route: Route | None = None,
                   server_cpu: Callable[[], tuple[float, float]] | None = None) -> dict[str, float]:
    """``orders`` orders over HTTP from ``clients`` clients at once; the figures of the run (latencies are of one
    request: of a whole batch on the batch route)."""
    route = route or Route()
    headers = ({"authorization": f"token {account}:{token}", "x-kite-version": "3"} if route.name == "kite"
               else {"authorization": f"Bearer {token}"})
    per_client = max(orders // clients // route.batch, 1)  # requests
    latencies: list[float] = []
    figures: dict[str, float] = {}

    async def run(post: Post) -> None:
        async def client(k: int) -> None:
            for i in range(per_client):
                start = time.perf_counter()
                await post(k, i)
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(_warm(post, k, route.batch) for k in range(clients)))
        server_start = server_cpu() if server_cpu else (math.nan, math.nan)
        cpu = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
        done = per_client * clients * route.batch
        figures["client_cpu_us"] = (time.process_time() - cpu) / done * 1e6
        server_end = server_cpu() if server_cpu else (math.nan, math.nan)
        figures["loop_cpu_us"] = (server_end[0] - server_start[0]) / done * 1e6
        figures["server_cpu_us"] = (server_end[1] - server_start[1]) / done * 1e6
        figures["seconds"] = elapsed

    writes = await _writes(url, token)
    await CLIENTS[kind](url, headers, clients, route, run)
    after = await _writes(url, token)
    figures["transactions"] = after["transactions"] - writes["transactions"]
    figures["rows_per_commit"] = (after["rows"] - writes["rows"]) / max(figures["transactions"], 1)
    latencies.sort()
    done = per_client * clients * route.batch
    return {**figures, "orders": done, "orders_per_s": done / figures["seconds"],
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000}


async def _warm(post: Post, k: int, batch: int) -> None:
    # Other callers' indices, so the warm-up orders alternate sides like the run's; about WARMUP orders' worth of
    # batches (two at the least).
    for i in range(max(WARMUP // batch, 2)):
        await post(k, 10**6 + i)


async def inline_run(token: str, options: dict[str, Any], kind: str, clients: int, orders: int,
                     route: Route) -> dict[str, float]:
    """An HTTP run against a server on this process's own loop."""
    oms = await open_oms()
    server = await oms.serve(port=0, token=token, **options)
    try:
        figures = await http_run(server.url, token, oms.account, kind, clients, orders, route)
    finally:
        await server.stop()
        await oms.close()
    figures["server_cpu_us"] = figures["loop_cpu_us"] = math.nan  # one process: the client column holds both
    return figures


def process_run(token: str, options: dict[str, Any], kind: str, clients: int, orders: int, route: Route,
                profile: str | None) -> dict[str, float]:
    """An HTTP run against a server in a process of its own, started for this run."""
    child = ChildServer(token, options, profile)
    try:
        # The clients run on uvloop too (when installed): the less a request costs them, the more of the figure is
        # the server's.
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            account = runner.run(_account(child.url, token))
            return runner.run(http_run(child.url, token, account, kind, clients, orders, route, child.cpu))
    finally:
        child.stop()


async def _status(url: str, token: str) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}) as client:
        return (await client.get("/api/oms/status")).json()  # type: ignore[no-any-return]


async def _account(url: str, token: str) -> str:
    return str((await _status(url, token))["account"])


async def _writes(url: str, token: str) -> dict[str, int]:
    """The OMS's write counters (transactions and rows committed so far)."""
    return (await _status(url, token))["writes"]  # type: ignore[no-any-return]


# -- the table ------------------------------------------------------------------------------------------------------

HEADER = (f"{'round':>5} {'path':<13} {'clients':>7} {'orders':>6} {'orders/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'CPU us: loop':>12} {'server':>6} {'client':>6} {'commits':>7} {'rows/commit':>11}")


def _us(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def row(round_: int, path: str, clients: int, r: dict[str, float]) -> str:
    """One line of the table."""
    return (f"{round_:>5} {path:<13} {clients:>7} {r['orders']:>6} {r['orders_per_s']:>8,.0f} {r['p50_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {_us(r.get('loop_cpu_us', math.nan)):>12} {_us(r.get('server_cpu_us', math.nan)):>6} "
            f"{_us(r['client_cpu_us']):>6} {r['transactions']:>7} {r['rows_per_commit']:>11.1f}")


def spread(values: list[float], digits: int = 0) -> str:
    """Median and range: ``1,234 (1,100-1,300)``."""
    form = f"{{:,.{digits}f}}"
    return f"{form.format(statistics.median(values))} ({form.format(min(values))}-{form.format(max(values))})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=4_000, help="orders per run (a quarter with one client)")
    parser.add_argument("--clients", default="1,10,50", help="comma-separated client counts (default: 1,10,50)")
    parser.add_argument("--client", choices=["httpx", "raw", "both"], default="both")
    parser.add_argument("--server", choices=["process", "inline"], default="process")
    parser.add_argument("--kite", action="store_true", help="also Kite's POST /orders/regular with the most clients")
    parser.add_argument("--batch", default="10,20", help="orders a batch: POST /orders/batch with the most clients, "
                        "one run per size (default: 10,20; 0 for none)")
    parser.add_argument("--no-lane", action="store_true",
                        help="send JSON as application/vnd.oms+json, which the door's lane leaves to FastAPI's route "
                        "(rows marked /r): what the lane saves")
    parser.add_argument("--no-single", action="store_true",
                        help="no runs of one order a request (the in-process rows and the batch rows only)")
    parser.add_argument("--access-log", action="store_true", help="serve with the access log on (to stderr)")
    parser.add_argument("--profile-server", metavar="FILE", default=None,
                        help="run each server process under pyinstrument, its report written to FILE")
    parser.add_argument("--serve-child", nargs=2, metavar=("TOKEN", "OPTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_child:
        # The loop ``python -m oms_kit serve`` runs on (uvloop's when installed).
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(serve_child(args.serve_child[0], json.loads(args.serve_child[1])))
        return 0
    try:
        counts = [int(n) for n in args.clients.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        parser.error(f"--clients was {args.clients!r}: give comma-separated positive integers such as 1,10,50")
    try:
        sizes = [int(n) for n in args.batch.split(",") if int(n) != 0]
    except ValueError:
        sizes = [-1]
    if any(not 1 <= n <= 100 for n in sizes):
        parser.error(f"--batch was {args.batch!r}: give comma-separated sizes from 1 to 100 (0 for none)")
    kinds = ["httpx", "raw"] if args.client == "both" else [args.client]
    token = secrets.token_urlsafe(24)
    options: dict[str, Any] = {"access_log": args.access_log}

    print(f"Server: {args.server}; clients: {', '.join(kinds)}; {args.orders} orders a run "
          f"({max(args.orders // 4, 1)} with one client); {os.cpu_count()} cores", flush=True)
    print(HEADER, flush=True)
    results: dict[tuple[str, int], list[dict[str, float]]] = {}

    def record(round_: int, path: str, clients: int, figures: dict[str, float]) -> None:
        results.setdefault((path, clients), []).append(figures)
        print(row(round_, path, clients, figures), flush=True)

    for round_ in range(1, args.rounds + 1):
        for clients in counts:
            orders = args.orders if clients > 1 else max(args.orders // 4, 1)
            figures = asyncio.run(bench_orders.run("duckdb:///:memory:", orders, clients))
            figures["client_cpu_us"] = figures["cpu_us_per_order"]
            record(round_, "in-process", clients, figures)
        lane = not args.no_lane
        routes = [] if args.no_single else [(kind, clients, Route(lane=lane)) for kind in kinds for clients in counts]
        if args.kite:
            routes += [(kind, counts[-1], Route("kite")) for kind in kinds]
        routes += [(kind, counts[-1], Route("batch", size, lane)) for size in sizes for kind in kinds]
        for kind, clients, route in routes:
            orders = args.orders if clients > 1 else max(args.orders // 4, 1)
            # A batch run sends BATCH_REQUESTS batches a client at the least, so that it lasts long enough to time.
            orders = max(orders, clients * route.batch * BATCH_REQUESTS) if route.batch > 1 else orders
            if args.server == "inline":
                figures = asyncio.run(inline_run(token, options, kind, clients, orders, route))
            else:
                figures = process_run(token, options, kind, clients, orders, route, args.profile_server)
            record(round_, f"{route.label} {kind}", clients, figures)

    print()
    print(f"Over {args.rounds} round{'s' if args.rounds > 1 else ''}: median (min-max)")
    print(f"{'path':<13} {'clients':>7} {'orders/s':>24} {'p50 ms':>20} {'p99 ms':>20} {'CPU us: loop':>12} "
          f"{'server':>6} {'client':>6} {'commits':>7}")
    for (path, clients), runs in results.items():
        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r.get(key, math.nan) for r in runs)

        print(f"{path:<13} {clients:>7} {spread([r['orders_per_s'] for r in runs]):>24} "
              f"{spread([r['p50_ms'] for r in runs], 2):>20} {spread([r['p99_ms'] for r in runs], 2):>20} "
              f"{_us(median('loop_cpu_us')):>12} {_us(median('server_cpu_us')):>6} {_us(median('client_cpu_us')):>6} "
              f"{median('transactions'):>7,.0f}")
    most = counts[-1]
    base = [r["orders_per_s"] for r in results[("in-process", most)]]
    for (path, clients), runs in results.items():
        if clients == most and path != "in-process":
            ratios = [h["orders_per_s"] / b for h, b in zip(runs, base, strict=True)]
            print(f"Ratio {path} / in-process with {most} clients: {spread(ratios, 3)} (target: at least 0.333)")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
