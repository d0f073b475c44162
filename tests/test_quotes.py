"""Quotes with depth: the Quote type and its checks, quote tables, recording a quote feed and replaying it, the
random walk's quotes, and a backtest and a paper replay of one quote recording filling alike."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError, DataError
from oms_kit.market import QUOTE_COLUMNS, bars_to_frame, iter_bars, load_bars, load_quotes, run_feed
from oms_kit.market.quote import DEPTH_COLUMNS, quote_columns
from oms_kit.market.recorder import FeedRecorder, RecordingFeed
from oms_kit.parsing import MAX_PRICE

SYMBOLS = ["INFY", "TCS"]
START = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)  # a Monday, 09:30 in India
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)
T = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
BIDS = ((99.95, 10), (99.90, 20))
ASKS = ((100.05, 7), (100.10, 30), (100.20, 1))


class SteppingClock:
    """A second later at each reading: every step of the walk has a time of its own."""

    def __init__(self, start: datetime) -> None:
        self._next = start

    def now(self) -> datetime:
        now, self._next = self._next, self._next + timedelta(seconds=1)
        return now


def quote_walk(steps: int, seed: int = 11, **options: Any) -> ok.RandomWalkFeed:
    return ok.RandomWalkFeed(SYMBOLS, interval=0, seed=seed, max_steps=steps, volatility=0.3, tick_size=0.05,
                             clock=SteppingClock(START), quotes=True, **options)


async def collect(feed: Any) -> list[Any]:
    seen: list[Any] = []
    await run_feed(feed, seen.append)
    return seen


# -- the type ---------------------------------------------------------------------------------------------------


def test_a_quote_is_a_bar_at_its_last_price_with_its_book():
    quote = ok.Quote(T, "TCS", 100.0, 12, bids=[list(level) for level in BIDS], asks=ASKS)
    assert isinstance(quote, ok.Bar)
    assert (quote.open, quote.high, quote.low, quote.close, quote.last, quote.volume) == (100.0,) * 5 + (12.0,)
    assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (99.95, 10, 100.05, 7)
    assert quote.bids == BIDS and quote.asks == ASKS and all(type(q) is int for _, q in quote.bids + quote.asks)
    assert quote == ok.Quote(T, "TCS", 100.0, 12.0, BIDS, ASKS)
    assert quote != ok.Bar(T, "TCS", 100.0, 100.0, 100.0, 100.0, 12.0)
    one_sided = ok.Quote(T, "TCS", 100.0, bids=BIDS)
    assert (one_sided.ask, one_sided.ask_size) == (None, 0) and math.isnan(one_sided.volume)
    with pytest.raises(AttributeError):
        quote.bids = ()  # type: ignore[misc]


@pytest.mark.parametrize(("options", "field"), [
    ({"bids": [(99.0, 1), (99.5, 1)]}, "bid_price_2"),  # bids must descend
    ({"asks": [(101.0, 1), (101.0, 1)]}, "ask_price_2"),  # asks must ascend, strictly
    ({"bids": [(100.1, 1)], "asks": [(100.1, 1)]}, "ask_price_1"),  # crossed (locked) book
    ({"bids": [(0.0, 1)]}, "bid_price_1"),
    ({"asks": [(math.inf, 1)]}, "ask_price_1"),
    ({"asks": [(101.0, -1)]}, "ask_qty_1"),
    ({"bids": [(99.0, 2.5)]}, "bid_qty_1"),
    ({"bids": [(99.0 - i, 1) for i in range(6)]}, "bids"),
    ({"asks": "100.05"}, "asks"),
    ({"asks": {101.0: 5}}, "asks"),
    ({"bids": [(99.0, 1, 2)]}, "bids[0]"),
    ({"bids": [(True, 1)]}, "bid_price_1"),
    ({"last": -1.0}, "last"),
    ({"last": "100"}, "last"),
    ({"volume": -5}, "volume"),
    ({"timestamp": datetime(2026, 1, 5)}, "timestamp"),
    ({"symbol": ""}, "symbol"),
])
def test_a_broken_quote_is_refused_naming_its_field(options, field):
    values = {"timestamp": T, "symbol": "TCS", "last": 100.0, **options}
    with pytest.raises(DataError) as raised:
        ok.Quote(**values)
    assert raised.value.field == field
    assert field in str(raised.value) and "allowed" in str(raised.value)


_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20), st.booleans(),
                    st.none(), st.text(max_size=3), st.just(Decimal("NaN")), st.decimals(allow_nan=False),
                    st.sampled_from([Decimal("sNaN"), 10**400, -0.0, np.float64(2.0), np.int64(7)]))
_levels = st.one_of(st.lists(st.tuples(_number, _number), max_size=7),
                    st.lists(st.tuples(st.floats(0.05, 1e6), st.integers(0, 10**6)), max_size=6),
                    st.text(max_size=4), st.none(), st.integers(), st.lists(_number, max_size=3))


@settings(max_examples=300, deadline=None)
@given(last=_number, volume=_number, bids=_levels, asks=_levels)
def test_hostile_quote_values_are_refused_with_a_data_error_or_make_a_sound_quote(last, volume, bids, asks):
    try:
        quote = ok.Quote(T, "TCS", last, volume, bids, asks)
    except DataError as error:
        assert error.field in {"last", "volume", "bids", "asks"} or error.field.startswith(
            ("bid_price_", "bid_qty_", "ask_price_", "ask_qty_", "bids[", "asks["))
        return
    assert 0 < quote.last <= float(MAX_PRICE) and quote.open == quote.high == quote.low == quote.last
    assert math.isnan(quote.volume) or quote.volume >= 0
    for side, ascending in ((quote.bids, False), (quote.asks, True)):
        prices = [p for p, _ in side]
        assert len(side) <= 5 and prices == sorted(prices, reverse=not ascending) and len(set(prices)) == len(prices)
        assert all(type(q) is int and q >= 0 for _, q in side) and all(math.isfinite(p) and p > 0 for p in prices)
    if quote.bids and quote.asks:
        assert quote.bid < quote.ask


# -- tables -----------------------------------------------------------------------------------------------------


def quote_frame(rows: int = 4) -> pd.DataFrame:
    """A quote table as a recording has it: a row a second, alternating symbols, books of varying depth."""
    quotes = [ok.Quote(T + timedelta(seconds=i), SYMBOLS[i % 2], 100.0 + i, float(i),
                       BIDS[: 1 + i % 2], ASKS[: 1 + i % 3]) for i in range(rows)]
    return pd.DataFrame(quote_columns(quotes))


def test_a_quote_table_loads_into_bar_columns_and_the_book_and_iterates_as_quotes():
    frame = quote_frame()
    loaded = load_quotes(frame)
    assert list(loaded.columns) == [*ok.market.BAR_COLUMNS, *DEPTH_COLUMNS]
    assert (loaded["open"] == loaded["close"]).all() and loaded["close"].tolist() == frame["last"].tolist()
    quotes = list(iter_bars(loaded))
    assert all(isinstance(q, ok.Quote) for q in quotes)
    assert quotes[1].bids == BIDS[:2] and quotes[2].asks == ASKS[:3] and quotes[0].asks == ASKS[:1]
    # load_bars takes a quote table too (the backtest's path), and a loaded table loads again as it is.
    pd.testing.assert_frame_equal(load_bars(frame), loaded)
    pd.testing.assert_frame_equal(load_quotes(loaded), loaded)
    assert bars_to_frame(quotes).equals(loaded)


def test_a_quote_table_with_only_the_first_level_is_enough():
    frame = pd.DataFrame({"timestamp": [T], "symbol": ["TCS"], "last": [100.0], "bid_price_1": [99.9],
                          "bid_qty_1": [3], "ask_price_1": [100.1], "ask_qty_1": [4]})
    (quote,) = iter_bars(load_quotes(frame))
    assert (quote.bids, quote.asks) == (((99.9, 3),), ((100.1, 4),)) and math.isnan(quote.volume)


@pytest.mark.parametrize(("change", "field", "row"), [
    (lambda f: f.assign(bid_price_2=[np.nan, 99.96, np.nan, 99.90]), "bid_price_2", 1),  # above level 1
    (lambda f: f.assign(ask_price_1=[99.0, 100.05, 100.05, 100.05]), "ask_price_1", 0),  # crossed
    (lambda f: f.assign(ask_qty_1=[7, 7, 2.5, 7]), "ask_qty_1", 2),
    (lambda f: f.assign(bid_qty_1=[10, "ten", 10, 10]), "bid_qty_1", 1),
    (lambda f: f.assign(bid_price_1=[99.95, 99.95, -1.0, 99.95]), "bid_price_1", 2),
    (lambda f: f.assign(ask_qty_3=[np.nan, 5.0, 1.0, np.nan]), "ask_price_3", 1),  # a quantity, no price
    (lambda f: f.assign(bid_price_3=[99.0, np.nan, np.nan, np.nan], bid_qty_3=[1, np.nan, np.nan, np.nan]),
     "bid_price_3", 0),  # level 3 without level 2
    (lambda f: f.assign(last=[100.0, None, 102.0, 103.0]), "open", 1),
])
def test_a_broken_quote_row_is_refused_naming_the_column_and_the_row(change, field, row):
    with pytest.raises(DataError) as raised:
        load_quotes(change(quote_frame()))
    assert raised.value.field == field and raised.value.row == row


@pytest.mark.parametrize(("frame", "field"), [
    (lambda f: f.assign(bid_price_6=1.0, bid_qty_6=1), "quote columns"),
    (lambda f: f.drop(columns=["ask_qty_2"]), "quote columns (missing: ask_qty_2)"),
    (lambda f: f.drop(columns=["last"]), "quote columns (missing: last)"),
    (lambda f: f.assign(open=1.0), "quote columns"),
    (lambda f: f.drop(columns=list(DEPTH_COLUMNS)), "quote columns (missing: bid_price_1, bid_qty_1, ask_price_1, "
                                                    "ask_qty_1)"),
])
def test_a_quote_table_with_wrong_columns_is_refused(frame, field):
    with pytest.raises(DataError) as raised:
        load_quotes(frame(quote_frame()))
    assert raised.value.field == field


def test_quotes_and_bars_do_not_mix_in_one_table():
    quote = ok.Quote(T, "TCS", 100.0, 1, BIDS, ASKS)
    with pytest.raises(DataError) as raised:
        bars_to_frame([quote, ok.Bar(T, "INFY", 1.0, 1.0, 1.0, 1.0)])
    assert raised.value.field == "bars"


_cell = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**16), st.none(),
                  st.text(max_size=2), st.booleans())


@settings(max_examples=150, deadline=None)
@given(cells=st.dictionaries(st.sampled_from(QUOTE_COLUMNS[2:]), st.lists(_cell, min_size=3, max_size=3),
                             max_size=4))
def test_hostile_cells_in_a_quote_table_are_refused_naming_a_column_or_load_sound_quotes(cells):
    frame = quote_frame(3)
    for column, values in cells.items():
        frame[column] = pd.Series(values, dtype=object)
    try:
        quotes = list(iter_bars(load_quotes(frame)))
    except DataError as error:
        assert error.field in QUOTE_COLUMNS or error.field in {"open", "high", "low", "close"}
        assert error.row in {0, 1, 2}
        return
    for quote in quotes:  # what loads keeps every rule the constructor checks
        assert ok.Quote(quote.timestamp, quote.symbol, quote.last, quote.volume, quote.bids, quote.asks) == quote


# -- recording and replay ---------------------------------------------------------------------------------------


async def trade_through(oms: ok.OMS, feed: Any) -> list[Any]:
    """Push every quote of ``feed`` into ``oms``; after the first step buy more than a level holds (the order
    walks the asks) and rest a sell limit above. Returns the quotes seen."""
    seen: list[Any] = []

    async def on_quote(quote: Any) -> None:
        oms.clock.set(quote.timestamp)
        await oms.push_bar(quote)
        seen.append(quote)
        if len(seen) == len(SYMBOLS):
            for symbol in SYMBOLS:
                await oms.place_order(symbol, "BUY", 400, "MARKET")
                price = oms.last_price(symbol) or Decimal(str(quote.close))
                await oms.place_order(symbol, "SELL", 150, "LIMIT", (price * Decimal("1.004") / Decimal("0.05"))
                                      .quantize(Decimal(1)) * Decimal("0.05"))

    await run_feed(feed, on_quote)
    return seen


def fills(oms: ok.OMS) -> list[tuple]:
    trades = oms.trades()
    return sorted(zip(trades["ts"], trades["symbol"], trades["side"], trades["quantity"], trades["price"],
                      trades["fees"], strict=True))


async def test_a_recorded_quote_walk_replays_quote_for_quote_with_the_same_fills(tmp_path: Path):
    steps = 50
    recording = RecordingFeed(quote_walk(steps), tmp_path / "rec", every=30, interval=None)
    first = await ok.OMS.open(feed=None, limits=LIMITS, clock=ok.SimulatedClock(START))
    try:
        live = await trade_through(first, recording)
        first_fills = fills(first)
    finally:
        await first.close()
    recording.close()
    assert recording.recorder.kind == "quotes" and recording.recorder.bars_written == steps * len(SYMBOLS)
    assert all(isinstance(q, ok.Quote) and len(q.bids) == len(q.asks) == 5 for q in live)

    replay = ok.ReplayFeed(recording.source, speed=None)
    assert list(replay.frame.columns[7:]) == list(DEPTH_COLUMNS)
    second = await ok.OMS.open(feed=None, limits=LIMITS, clock=ok.SimulatedClock(START))
    try:
        replayed = await trade_through(second, replay)
        assert replayed == live  # every field: time, price, volume, each level's price and quantity
        assert fills(second) == first_fills
    finally:
        await second.close()
    # The market buy of 400 took several levels of the first book, at several prices.
    first_buys = [f for f in first_fills if f[2] == "BUY" and f[0] == live[0].timestamp]
    assert len(first_buys) > len(SYMBOLS) and len({f[4] for f in first_buys}) > len(SYMBOLS)


def test_a_recorder_holds_one_kind_and_a_continued_directory_keeps_its_kind(tmp_path: Path):
    quote = ok.Quote(T, "TCS", 100.0, 1, BIDS, ASKS)
    plain = ok.Bar(T, "TCS", 100.0, 100.0, 100.0, 100.0)
    with FeedRecorder(tmp_path / "q", every=1, interval=None) as recorder:
        recorder.write(quote)
        with pytest.raises(ConfigError) as raised:
            recorder.write(plain)
        assert raised.value.field == "bar" and "holds quotes" in raised.value.allowed
    again = FeedRecorder(tmp_path / "q", every=1, interval=None)
    with pytest.raises(ConfigError):
        again.write(plain)
    again.write(ok.Quote(T + timedelta(seconds=1), "TCS", 100.5, 1, BIDS, ASKS))
    again.close()
    back = list(iter_bars(load_bars(again.source)))
    assert back[0] == quote and back[1].close == 100.5
    with FeedRecorder(tmp_path / "b", every=1, interval=None) as bars:
        bars.write(plain)
    with pytest.raises(ConfigError) as raised:
        FeedRecorder(tmp_path / "b").write(quote)
    assert "holds bars" in raised.value.allowed


def test_a_quote_recording_has_the_quote_columns_with_empty_levels_as_nulls(tmp_path: Path):
    with FeedRecorder(tmp_path / "q", interval=None) as recorder:
        recorder.write(ok.Quote(T, "TCS", 100.0, 3, BIDS[:1], ()))
    table = pd.read_parquet(recorder.source.replace("*.parquet", "part-000000.parquet"))
    assert list(table.columns) == list(QUOTE_COLUMNS)
    assert table.loc[0, "bid_qty_1"] == 10
    assert pd.isna(table.loc[0, "bid_price_2"]) and pd.isna(table.loc[0, "ask_qty_1"])


# -- the random walk's quotes -----------------------------------------------------------------------------------


async def test_the_walk_sends_bars_by_default_and_quotes_around_the_same_prices_when_asked():
    plain = await collect(ok.RandomWalkFeed(SYMBOLS, interval=0, seed=5, max_steps=30, volatility=0.3,
                                            clock=SteppingClock(START)))
    quoted = await collect(quote_walk(30, seed=5, spread_ticks=3, depth=4, level_size=10))
    assert all(type(b) is ok.Bar for b in plain) and all(isinstance(q, ok.Quote) for q in quoted)
    assert [b.close for b in plain] == [q.last for q in quoted]  # the book does not move the walk
    for quote in quoted:
        assert len(quote.bids) == len(quote.asks) == 4
        assert round(quote.ask - quote.bid, 6) == 0.15 and quote.bid <= quote.last < quote.ask
        assert all(1 <= q <= 19 for _, q in quote.bids + quote.asks)
    again = await collect(quote_walk(30, seed=5, spread_ticks=3, depth=4, level_size=10))
    assert again == quoted  # the seed gives the same books


@pytest.mark.parametrize(("name", "value"), [("depth", 0), ("depth", 6), ("depth", 2.0), ("spread_ticks", 0),
                                             ("level_size", 0), ("level_size", True), ("quotes", "yes")])
def test_bad_quote_settings_of_the_walk_are_refused_naming_them(name, value):
    with pytest.raises(ConfigError) as raised:
        ok.RandomWalkFeed(SYMBOLS, **{"quotes": True, name: value})
    assert raised.value.field == name


# -- a backtest and a paper replay of one recording -------------------------------------------------------------


class DepthTaker(ok.Strategy):
    """Buys more than the best level holds, rests limits, protects with stop-markets: every quote rule in use."""

    size = 260

    def on_start(self, ctx):
        self.seen = 0

    def on_bar(self, ctx, bar):
        self.seen += 1
        for order in ctx.open_orders(bar.symbol):
            if order.order_type is ok.OrderType.LIMIT and order.created_at < ctx.now - timedelta(seconds=5):
                ctx.cancel(order)
        held = ctx.position(bar.symbol)
        if self.seen % 9 == 0 and held <= 0:
            ctx.buy(bar.symbol, self.size - held)
        elif self.seen % 9 == 4 and held > 0:
            ctx.sell(bar.symbol, held, "LIMIT", price=ctx.round_price(bar.symbol, bar.ask + 0.05))
        elif self.seen % 13 == 0:
            ctx.buy(bar.symbol, 50, "LIMIT", price=ctx.round_price(bar.symbol, bar.bid))

    def on_fill(self, ctx, fill):
        if fill.side is ok.Side.BUY and fill.quantity > 100:
            ctx.sell(fill.symbol, fill.quantity, "SL-M", trigger_price=ctx.round_price(
                fill.symbol, float(fill.price) * 0.998), tag="stop")


async def test_a_backtest_and_a_paper_replay_of_a_quote_recording_fill_alike(tmp_path: Path):
    recording = RecordingFeed(quote_walk(400, seed=3), tmp_path / "rec", every=200, interval=None)
    await collect(recording)
    recording.close()

    result = ok.backtest(DepthTaker(), recording.source, limits=LIMITS)
    oms = await ok.OMS.open(feed=None, clock=ok.SimulatedClock(START), risk_interval=None, limits=LIMITS,
                            broker=ok.MockBroker(immediate_market_fills=False))
    try:
        trader = await ok.paper_trade(DepthTaker(), oms=oms, feed=ok.ReplayFeed(recording.source, speed=None))
        await trader

        assert result.stats["rejected_orders"] == 0 and len(result.fills) > 40
        # Orders walked the book: some filled in several fills at several prices.
        per_order: dict[str, set] = {}
        for fill in result.fills:
            per_order.setdefault(fill.order_id, set()).add(fill.price)
        assert max(len(prices) for prices in per_order.values()) >= 2
        assert {"stop"} <= {o.tag for o in result.placed}
        drift = ok.compare(result, trader)
        assert len(drift) == len(result.fills) and set(drift["status"]) == {"same"}
        assert oms.manager.ledger.equity() == result.manager.ledger.equity()
    finally:
        await oms.close()


def test_a_quote_table_with_an_offset_timestamp_loads_in_utc():
    frame = quote_frame(2)
    frame["timestamp"] = [t.astimezone(timezone(timedelta(hours=5, minutes=30))) for t in frame["timestamp"]]
    quotes = list(iter_bars(load_quotes(frame)))
    assert [q.timestamp for q in quotes] == [T, T + timedelta(seconds=1)]
    assert quotes[0].timestamp.tzinfo is UTC


_setting = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**10), st.floats(allow_nan=True),
                     st.text(max_size=3))


@settings(max_examples=120, deadline=None)
@given(name=st.sampled_from(["depth", "spread_ticks", "level_size"]), value=_setting)
def test_hostile_quote_settings_of_the_walk_are_refused_or_give_sound_books(name, value):
    try:
        feed = ok.RandomWalkFeed(SYMBOLS, interval=0, max_steps=2, quotes=True, clock=SteppingClock(START),
                                 **{name: value})
    except ConfigError as error:
        assert error.field == name
        return
    assert type(value) is int
    quote = feed._step()[0]
    assert isinstance(quote, ok.Quote) and quote.bid < quote.ask
