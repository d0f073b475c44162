"""``ok.KiteFeed`` against real servers on free ports, through the official ``kiteconnect`` client: the "exchange"
is a second OMS serving its Kite-compatible API (prices moved with ``set_price``), and, for what that server never
answers (a book, a 5xx, a body that is not JSON), a small Kite-shaped HTTP server of the test's own.

The feed's waits go through a recorder that asks for a few milliseconds instead of the seconds Kite's rate limit
needs, so the tests run fast and can read the waits the feed asked for (the backoff) without timing anything.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError
from oms_kit.market.kite_feed import MAX_INSTRUMENTS
from oms_kit.service import serve

LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)
NOON_IST = datetime(2026, 12, 7, 6, 30, 5, tzinfo=UTC)  # a Monday, 12:00:05 in Mumbai


class Waits:
    """The feed's sleep: records each wait asked for and waits a few milliseconds instead."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(min(seconds, 0.01))


async def until(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` if it does not within ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"waited in vain for {what}")
        await asyncio.sleep(0.01)


class Exchange:
    """An OMS playing the exchange, served with its Kite-compatible API on a free port."""

    def __init__(self, oms: ok.OMS, server: Any) -> None:
        self.oms, self.server = oms, server

    def feed(self, symbols: Any = ("INFY", "RELIANCE"), **options: Any) -> ok.KiteFeed:
        options.setdefault("api_key", self.oms.account)
        options.setdefault("access_token", self.server.token)
        options.setdefault("sleep", Waits())
        return ok.KiteFeed(symbols, root=self.server.url, **options)


@pytest.fixture
async def exchange() -> Any:
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, limits=LIMITS,
                            clock=ok.SimulatedClock(NOON_IST))
    await oms.set_price("INFY", 1500)
    await oms.set_price("RELIANCE", 2500)
    exchange = Exchange(oms, await serve(oms, port=0))
    yield exchange
    await exchange.server.stop()  # the one serving now: a test may have served it again
    await oms.close()


class Reader:
    """Consumes a feed in a task, keeping its bars, or the error that ended it."""

    def __init__(self, feed: ok.KiteFeed) -> None:
        self.feed, self.bars, self.error = feed, [], None
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for bar in self.feed.stream():
                self.bars.append(bar)
        except ok.OmsError as error:
            self.error = error

    async def polls(self, more: int) -> None:
        target = self.feed.status()["polls"] + more
        await until(lambda: self.feed.status()["polls"] >= target, f"{more} more polls")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


# -- prices from the served exchange -----------------------------------------------------------------------------------


async def test_a_local_oms_fed_by_kite_marks_at_the_served_prices(exchange):
    local = await ok.OMS.open("duckdb:///:memory:", feed=exchange.feed(), risk_interval=None, limits=LIMITS,
                              market_hours=False)
    try:
        await until(lambda: local.last_price("INFY") == Decimal(1500), "the first quote of INFY")
        assert local.last_price("RELIANCE") == Decimal(2500)
        order = await local.place_order("INFY", "BUY", 4, "MARKET")
        assert local.get_order(order.order_id).status is ok.OrderStatus.FILLED

        await exchange.oms.set_price("INFY", 1512.5)
        await until(lambda: local.last_price("INFY") == Decimal("1512.5"), "INFY to follow the exchange")
        row = local.positions().set_index("symbol").loc["INFY"]
        assert float(row["unrealized_pnl"]) == pytest.approx(4 * 12.5)  # marked at the served price
        status = local.status()["feed"]
        assert status["kind"] == "kite" and status["failed_polls"] == 0 and status["missing"] == []
    finally:
        await local.close()


async def test_unchanged_quotes_give_no_new_bars_and_bars_carry_the_exchange_time(exchange):
    reader = Reader(exchange.feed())
    try:
        await until(lambda: len(reader.bars) == 2, "the first two bars")
        await reader.polls(3)
        assert len(reader.bars) == 2  # nothing traded since: no bars
        assert [b.symbol for b in reader.bars] == ["INFY", "RELIANCE"]  # the kit's symbols, not NSE:INFY
        assert all(math.isnan(b.volume) for b in reader.bars)  # the day's volume so far is not a bar's

        exchange.oms.clock.set(datetime(2026, 12, 7, 6, 31, 7, tzinfo=UTC))
        await exchange.oms.set_price("RELIANCE", 2490)
        await until(lambda: len(reader.bars) == 3, "the bar of the new RELIANCE price")
        await reader.polls(3)
        assert len(reader.bars) == 3
        bar = reader.bars[-1]
        assert (bar.symbol, bar.open, bar.close, bar.high, bar.low) == ("RELIANCE", 2500, 2490, 2500, 2490)
        # The exchange's last trade time (12:01:07 IST), not this machine's clock.
        assert bar.timestamp == datetime(2026, 12, 7, 6, 31, 7, tzinfo=UTC)
        assert bar.volume == 0  # the served exchange trades nothing between the polls
        assert reader.feed.status()["updates_sent"] == 3
    finally:
        await reader.stop()


async def test_a_stream_stopped_part_way_through_a_poll_resumes_with_the_rest_of_it(exchange):
    feed = exchange.feed()
    stream = feed.stream()
    first = await asyncio.wait_for(anext(stream), 20)
    await stream.aclose()
    polls = feed.status()["polls"]
    stream = feed.stream()
    second = await asyncio.wait_for(anext(stream), 20)  # a new poll would send nothing: nothing changed
    await stream.aclose()
    assert (first.symbol, second.symbol) == ("INFY", "RELIANCE")
    assert feed.status()["polls"] == polls and feed.status()["updates_sent"] == 2 and not feed.status()["running"]


async def test_the_feed_survives_the_server_going_away_and_resumes_when_it_returns(exchange):
    waits = Waits()
    feed = exchange.feed(sleep=waits, max_backoff=4, timeout=2)
    reader = Reader(feed)
    try:
        await until(lambda: len(reader.bars) == 2, "the first bars")
        port, token = exchange.server.port, exchange.server.token
        await exchange.server.stop()
        await until(lambda: feed.status()["failed_polls"] >= 4, "four failed polls")
        status = feed.status()
        assert status["running"] and status["stopped"] is None and reader.error is None
        assert status["last_error"] and status["failures_in_a_row"] >= 4
        # The waits after failures double from the interval, up to max_backoff (1 s, then 2, 4, 4).
        assert [w for w in waits.asked if w > 1.5][:3] == pytest.approx([2, 4, 4], abs=0.5)

        exchange.server = await serve(exchange.oms, port=port, token=token)
        await exchange.oms.set_price("INFY", 1520)
        await until(lambda: reader.bars[-1].close == 1520, "the price after the server came back")
        status = feed.status()
        assert status["failures_in_a_row"] == 0 and status["failed_polls"] >= 4 and status["retry_in_s"] is None
        assert token not in json.dumps(status, default=str)
    finally:
        await reader.stop()


async def test_a_refused_token_stops_the_feed_with_a_clear_error(exchange):
    secret = "not-the-token-3f9c2"
    feed = exchange.feed(access_token=secret)
    reader = Reader(feed)
    await asyncio.wait_for(reader.task, 20)
    assert isinstance(reader.error, ok.KiteTokenError) and "refused the access token" in str(reader.error)
    assert secret not in str(reader.error) and exchange.oms.account not in str(reader.error)
    status = feed.status()
    assert status["stopped"] and status["failed_polls"] == 1 and not status["running"]
    assert secret not in json.dumps(status, default=str) and secret not in repr(feed)
    with pytest.raises(ok.KiteTokenError):  # streamed again: still stopped, without asking the server
        async for _ in feed.stream():
            pass
    assert feed.status()["requests"] == 1


async def test_an_oms_whose_feed_is_refused_keeps_running_without_it(exchange):
    local = await ok.OMS.open("duckdb:///:memory:", feed=exchange.feed(access_token="wrong"), risk_interval=None,
                              limits=LIMITS, market_hours=False)
    try:
        await until(lambda: not local.status()["tasks"]["oms-kit-feed"], "the feed task to end")
        assert local.status()["feed"]["stopped"].startswith("Kite feed 'kite' stopped")
        assert await local.set_price("INFY", 1499) == Decimal(1499)  # prices by hand still work
    finally:
        await local.close()


async def test_more_than_500_instruments_are_asked_for_in_batches(exchange):
    unknown = [f"NOSUCH{i}" for i in range(MAX_INSTRUMENTS)]  # the server leaves them out, as Kite does
    feed = exchange.feed(["INFY", *unknown, "RELIANCE"])
    reader = Reader(feed)
    try:
        await until(lambda: len(reader.bars) == 2, "the two known instruments")
        status = feed.status()
        assert status["requests"] == 2 * status["polls"] >= 2  # 502 instruments: two requests a poll
        assert len(status["missing"]) == MAX_INSTRUMENTS and "NSE:NOSUCH0" in status["missing"]
        assert {b.symbol for b in reader.bars} == {"INFY", "RELIANCE"}
    finally:
        await reader.stop()


async def test_credentials_come_from_the_environment_and_are_never_shown(exchange, monkeypatch):
    token, key = exchange.server.token, exchange.oms.account
    monkeypatch.setenv("KITE_API_KEY", key)
    monkeypatch.setenv("KITE_ACCESS_TOKEN", token)
    feed = ok.KiteFeed(["INFY"], root=exchange.server.url, sleep=Waits())
    reader = Reader(feed)
    try:
        await until(lambda: len(reader.bars) == 1, "a bar with credentials from the environment")
        for shown in (repr(feed), json.dumps(feed.status(), default=str)):
            assert token not in shown and key not in shown
    finally:
        await reader.stop()
    monkeypatch.delenv("KITE_ACCESS_TOKEN")
    with pytest.raises(ConfigError, match="KITE_ACCESS_TOKEN") as caught:
        ok.KiteFeed(["INFY"], root=exchange.server.url)
    assert caught.value.field == "access_token"
    with pytest.raises(ConfigError) as caught:
        ok.KiteFeed(["INFY"], api_key=key, access_token=f"{token} x", root=exchange.server.url)
    assert caught.value.field == "access_token" and token not in str(caught.value)


# -- what the served exchange never answers: a book, a 5xx, a body that is not Kite's --------------------------------


@pytest.fixture
def stub() -> Iterator[Any]:
    """A Kite-shaped HTTP server in a thread: ``stub.answers`` is a list of (status, body) served in turn, the last
    one again and again."""
    answers: list[tuple[int, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            status, body = answers[0] if len(answers) == 1 else answers.pop(0)
            body = body.replace("{auth}", self.headers.get("Authorization", ""))  # a server that echoes it
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body.startswith("{") else "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.answers = answers  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def kite_quote(last: float, traded: str, volume: int, bids: list[tuple[float, int]],
               asks: list[tuple[float, int]]) -> str:
    def side(levels: list[tuple[float, int]]) -> list[dict[str, Any]]:
        padded = levels + [(0.0, 0)] * (5 - len(levels))  # Kite pads the book with empty levels
        return [{"price": p, "quantity": q, "orders": 1 if q else 0} for p, q in padded]

    return json.dumps({"status": "success", "data": {"NSE:INFY": {
        "instrument_token": 408065, "timestamp": traded, "last_trade_time": traded, "last_price": last,
        "volume": volume, "ohlc": {"open": last, "high": last, "low": last, "close": last},
        "depth": {"buy": side(bids), "sell": side(asks)}}}})


async def test_5xx_and_bodies_that_are_not_kites_are_retried_then_quotes_come_with_their_book(stub):
    stub.answers.extend([
        (503, '{"status": "error", "message": "upstream down", "error_type": "GeneralException"}'),
        (200, "<html>maintenance</html>"),
        (502, '{"status": "error", "message": "bad gateway for {auth}", "error_type": "GeneralException"}'),
        (200, kite_quote(1500.5, "2026-12-07 12:00:05", 1000, [(1500.4, 30), (1500.3, 10)], [(1500.6, 25)])),
        (200, kite_quote(1500.5, "2026-12-07 12:00:05", 1000, [(1500.4, 30), (1500.3, 10)], [(1500.6, 25)])),
        (200, kite_quote(1501.0, "2026-12-07 12:00:09", 1250, [(1500.9, 5)], [(1501.1, 7)])),
    ])
    feed = ok.KiteFeed("INFY", api_key="key", access_token="token-abc", root=stub.url, sleep=Waits())
    reader = Reader(feed)
    try:
        await until(lambda: len(reader.bars) == 2, "two quotes after three failed polls")
        assert feed.status()["failed_polls"] == 3 and feed.status()["polls"] >= 3
        # The last failure's server echoed the Authorization header: the credentials are masked.
        assert feed.status()["last_error"] == "GeneralException: bad gateway for token ***:***"
        first, second = reader.bars
        assert isinstance(first, ok.Quote) and first.bids == ((1500.4, 30), (1500.3, 10))
        assert first.asks == ((1500.6, 25),) and first.last == 1500.5 and math.isnan(first.volume)
        assert first.timestamp == datetime(2026, 12, 7, 6, 30, 5, tzinfo=UTC)  # Kite's IST, as UTC
        assert (second.bid, second.ask, second.last, second.volume) == (1500.9, 1501.1, 1501.0, 250)
    finally:
        await reader.stop()


# -- bad input ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "options"), [
    ("interval", {"interval": 0.5}),
    ("interval", {"interval": math.nan}),
    ("symbols", {"symbols": []}),
    ("symbols", {"symbols": ["NSE:INFY", "INFY"]}),
    ("symbols", {"symbols": ["XYZ:INFY"]}),
    ("exchange", {"exchange": "nse"}),
    ("root", {"root": "ftp://example.com"}),
    ("root", {"root": "https://user:secret@example.com"}),
    ("max_backoff", {"max_backoff": 0.5}),
    ("api_key", {"api_key": 12345}),
])
def test_bad_settings_are_refused_naming_the_field(field, options):
    arguments = {"symbols": ["INFY"], "api_key": "key", "access_token": "token", **options}
    with pytest.raises(ConfigError) as caught:
        ok.KiteFeed(arguments.pop("symbols"), **arguments)
    assert caught.value.field == field and "allowed" in str(caught.value)


HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                    st.lists(st.text(max_size=10), max_size=3), st.binary(max_size=5))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(symbols=HOSTILE, interval=HOSTILE, api_key=HOSTILE, access_token=HOSTILE, root=HOSTILE, exchange=HOSTILE,
       timeout=HOSTILE, max_backoff=HOSTILE, name=HOSTILE)
def test_hostile_constructor_values_get_a_config_error_that_shows_no_credential(
        symbols, interval, api_key, access_token, root, exchange, timeout, max_backoff, name):
    arguments = {"interval": interval, "api_key": api_key, "access_token": access_token, "root": root,
                 "exchange": exchange, "timeout": timeout, "max_backoff": max_backoff, "name": name}
    try:
        feed = ok.KiteFeed(symbols, **arguments)
    except ConfigError as error:
        assert error.field in {"symbols", "interval", "api_key", "access_token", "root", "exchange", "timeout",
                               "max_backoff", "name"}
        shown = str(error)
    else:
        shown = repr(feed) + json.dumps(feed.status(), default=str)
    others = repr([symbols, interval, root, exchange, timeout, max_backoff, name])  # may be shown, and equal
    for secret in (api_key, access_token):
        if isinstance(secret, str) and len(secret) >= 4 and secret not in others:
            assert secret not in shown
