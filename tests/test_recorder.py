"""FeedRecorder and RecordingFeed: a live feed's bars to parquet parts, read back and replayed bar for bar."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError
from oms_kit.market import BAR_COLUMNS, bars_to_frame, iter_bars, load_bars, run_feed
from oms_kit.market.recorder import FeedRecorder, RecordingFeed

# In sorted order: a replay sends the bars of one time sorted by symbol (load_bars' order), the walk in the order
# it was given; with them sorted, the two orders are one and the replay is the live stream bar for bar.
SYMBOLS = ["INFY", "TCS"]
START = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)  # a Monday, 09:30 in India
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


class SteppingClock:
    """Each reading is a second after the last: the walk reads the clock once per step, so every step has a time of
    its own (the wall clock could give two steps the same microsecond, and the recording two bars of one key)."""

    def __init__(self, start: datetime) -> None:
        self._next = start

    def now(self) -> datetime:
        now, self._next = self._next, self._next + timedelta(seconds=1)
        return now


def walk(steps: int, seed: int = 7) -> ok.RandomWalkFeed:
    return ok.RandomWalkFeed(SYMBOLS, interval=0, seed=seed, max_steps=steps, volatility=0.5, tick_size=0.05,
                             clock=SteppingClock(START))


async def trade_through(oms: ok.OMS, feed) -> list[ok.Bar]:
    """Push every bar of ``feed`` into ``oms``; after the first step place two resting limit orders, so fills
    depend on the later bars' ranges. Returns the bars seen."""
    seen: list[ok.Bar] = []

    async def on_bar(bar: ok.Bar) -> None:
        oms.clock.set(bar.timestamp)  # the OMS follows the data, so orders are placed between its bars
        await oms.push_bar(bar)
        seen.append(bar)
        if len(seen) == len(SYMBOLS):  # the first step is in: every symbol has a price
            for symbol in SYMBOLS:
                price = Decimal(str(bar.close)) if symbol == bar.symbol else oms.last_price(symbol)
                step = Decimal("0.05")
                below = (price * Decimal("0.995") / step).quantize(Decimal(1)) * step
                above = (price * Decimal("1.005") / step).quantize(Decimal(1)) * step
                await oms.place_order(symbol, "BUY", 5, "LIMIT", below)
                await oms.place_order(symbol, "SELL", 3, "LIMIT", above)

    await run_feed(feed, on_bar)
    return seen


def key(bar: ok.Bar) -> tuple:
    """Every field of a bar, NaN volume (unknown) as None so that two unknowns compare equal."""
    volume = None if math.isnan(bar.volume) else bar.volume
    return bar.timestamp, bar.symbol, bar.open, bar.high, bar.low, bar.close, volume


def fills(oms: ok.OMS) -> list[tuple]:
    trades = oms.trades()
    # The fill time too: a replay that got the path wrong would fill at the same limit price on another bar.
    return sorted(zip(trades["ts"], trades["symbol"], trades["side"], trades["quantity"], trades["price"],
                      trades["fees"], strict=True))


async def test_a_recorded_walk_replays_into_a_second_oms_with_the_same_prices_and_fills(tmp_path: Path):
    steps = 60
    recording = RecordingFeed(walk(steps), tmp_path / "rec", every=25, interval=None)
    first = await ok.OMS.open(feed=None, limits=LIMITS, clock=ok.SimulatedClock(START))
    try:
        live = await trade_through(first, recording)
        first_fills, first_prices = fills(first), {s: first.last_price(s) for s in SYMBOLS}
    finally:
        await first.close()
    recording.close()
    assert len(live) == steps * len(SYMBOLS)
    assert recording.recorder.bars_written == len(live)
    # 120 bars by 25: four full parts and the rest written at the end of the stream.
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == [f"part-{i:06d}.parquet" for i in range(5)]

    replay = ok.ReplayFeed(recording.source, speed=None)
    assert len(replay) == len(live)
    second = await ok.OMS.open(feed=None, limits=LIMITS, clock=ok.SimulatedClock(START))
    try:
        replayed = await trade_through(second, replay)
        assert [key(b) for b in replayed] == [key(b) for b in live]
        assert {s: second.last_price(s) for s in SYMBOLS} == first_prices
        assert fills(second) == first_fills
        assert len(first_fills) >= 2, "the walk should cross some of the limits, or the comparison proves little"
    finally:
        await second.close()


async def test_a_recording_feed_inside_an_oms_records_full_bars(tmp_path: Path):
    steps = 30
    recording = RecordingFeed(walk(steps, seed=3), tmp_path / "rec", every=1000, interval=None)
    oms = await ok.OMS.open(feed=recording, limits=LIMITS)
    try:
        while not oms.status()["feed"]["finished"]:
            await asyncio.sleep(0.01)
        assert oms.status()["feed"]["kind"] == "random_walk" and oms.status()["feed"]["recording"]
    finally:
        await oms.close()  # cancels the feed task; the stream's end writes the waiting bars
    frame = load_bars(recording.source)
    assert len(frame) == steps * len(SYMBOLS)
    # Full bars: the walk's bars are ticks (open = high = low = close), and the volume column survives.
    assert list(frame.columns) == list(BAR_COLUMNS)
    # Full bars: after the first step a walk's bar opens at the previous close, so open and close differ and
    # high/low hold both; a recording of price events (one price per bar) could not give these back.
    assert (frame["open"] != frame["close"]).any()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()


def test_bars_with_ranges_and_missing_volume_round_trip_exactly(tmp_path: Path):
    bars = [
        ok.Bar(datetime(2026, 1, 5, 3, 45, i, 123456, tzinfo=UTC), sym, 100.0 + i, 101.5 + i, 99.25 + i, 100.75 + i,
               math.nan if i % 2 else 1000.0 * i)
        for i in range(7) for sym in ("A", "B")
    ]
    with FeedRecorder(tmp_path / "r", every=3, interval=None) as recorder:
        for bar in bars:
            recorder.write(bar)
    assert recorder.parts_written == 5  # 14 bars by 3, the last two on close
    back = list(iter_bars(load_bars(recorder.source)))
    assert len(back) == len(bars)
    for got, want in zip(back, bars, strict=True):
        assert (got.timestamp, got.symbol, got.open, got.high, got.low, got.close) == (
            want.timestamp, want.symbol, want.open, want.high, want.low, want.close)
        assert got.volume == want.volume or (math.isnan(got.volume) and math.isnan(want.volume))
    pd.testing.assert_frame_equal(load_bars(recorder.source), bars_to_frame(bars), check_dtype=False)


def test_a_crash_after_some_chunks_leaves_the_written_parts_readable(tmp_path: Path):
    bars = [ok.Bar(datetime(2026, 1, 5, 4, 0, i, tzinfo=UTC), "TCS", 100.0 + i, 100.0 + i, 100.0 + i, 100.0 + i)
            for i in range(23)]
    recorder = FeedRecorder(tmp_path / "r", every=5, interval=None)
    for bar in bars:
        recorder.write(bar)
    # The process dies here: no close(). Four parts of five bars are on disk; three bars were pending.
    assert recorder.pending == 3
    del recorder
    frame = load_bars(str(tmp_path / "r" / "*.parquet"))
    assert frame["close"].tolist() == [b.close for b in bars[:20]]
    # A half-written part (a crash during the write) has a name the glob does not match.
    (tmp_path / "r" / ".part-000004.parquet.tmp").write_bytes(b"PAR1 torn")
    assert len(load_bars(str(tmp_path / "r" / "*.parquet"))) == 20
    # Recording again into the same directory continues after the last part.
    again = FeedRecorder(tmp_path / "r", every=100, interval=None)
    for bar in bars[20:]:
        again.write(bar)
    again.close()
    assert (tmp_path / "r" / "part-000004.parquet").exists()
    assert load_bars(again.source)["close"].tolist() == [b.close for b in bars]


def test_interval_writes_a_part_when_the_time_has_passed(tmp_path: Path):
    now = [0.0]
    recorder = FeedRecorder(tmp_path / "r", every=1000, interval=2.0, monotonic=lambda: now[0])
    stamp = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    recorder.write(ok.Bar(stamp, "TCS", 1.0, 1.0, 1.0, 1.0))
    now[0] = 1.5
    recorder.write(ok.Bar(stamp, "INFY", 1.0, 1.0, 1.0, 1.0))
    assert recorder.parts_written == 0 and recorder.pending == 2
    now[0] = 2.5
    recorder.write(ok.Bar(stamp, "SBIN", 1.0, 1.0, 1.0, 1.0))
    assert recorder.parts_written == 1 and recorder.pending == 0
    recorder.close()
    with pytest.raises(RuntimeError, match="closed"):
        recorder.write(ok.Bar(stamp, "TCS", 1.0, 1.0, 1.0, 1.0))


def test_a_new_recorder_creates_nothing_until_it_writes(tmp_path: Path):
    recorder = FeedRecorder(tmp_path / "a" / "b")
    recorder.close()
    assert not (tmp_path / "a").exists()


# --- hostile arguments ---------------------------------------------------------------------------------------

@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(every=st.one_of(st.integers(max_value=0), st.booleans(), st.floats(), st.text(max_size=3), st.none()))
def test_a_bad_every_is_refused_naming_it(tmp_path: Path, every):
    with pytest.raises(ConfigError) as caught:
        FeedRecorder(tmp_path / "r", every=every)
    assert caught.value.field == "every"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(interval=st.one_of(st.floats().filter(lambda x: not (math.isfinite(x) and x > 0)),
                          st.integers(max_value=0), st.booleans(), st.text(max_size=3)))
def test_a_bad_interval_is_refused_naming_it(tmp_path: Path, interval):
    with pytest.raises(ConfigError) as caught:
        FeedRecorder(tmp_path / "r", interval=interval)
    assert caught.value.field == "interval"


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(path=st.one_of(
    st.none(), st.integers(), st.binary(max_size=5), st.just(""), st.just("   "),
    st.text(max_size=8).map(lambda t: t + "\x00"), st.text(max_size=5).map(lambda t: t + "*.parquet"),
    st.just("a[b]"), st.just("file"), st.just("file/sub"),
))
def test_a_bad_path_is_refused_naming_it(tmp_path: Path, path):
    (tmp_path / "file").write_text("not a directory")
    if path in ("file", "file/sub"):
        path = tmp_path / path
    with pytest.raises(ConfigError) as caught:
        FeedRecorder(path)
    assert caught.value.field == "path"


def test_recording_feed_refuses_what_is_not_a_feed_and_two_destinations(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        RecordingFeed("not a feed", tmp_path / "r")
    assert caught.value.field == "feed"
    with pytest.raises(ConfigError) as caught:
        RecordingFeed(walk(1), tmp_path / "r", recorder=FeedRecorder(tmp_path / "s"))
    assert caught.value.field == "path"
    with pytest.raises(ConfigError) as caught:
        RecordingFeed(walk(1))
    assert caught.value.field == "path"
    with pytest.raises(ConfigError) as caught:
        FeedRecorder(tmp_path / "r").write("not a bar")  # type: ignore[arg-type]
    assert caught.value.field == "bar"


async def test_a_recording_of_the_random_walk_keeps_its_own_hours_and_trades_at_any_hour(tmp_path):
    walk = ok.RandomWalkFeed({"RELIANCE": 2500.0}, interval=0.001, seed=3)
    oms = await ok.OMS.open(feed=ok.RecordingFeed(walk, tmp_path / "rec"), risk_interval=None)
    try:
        hours = oms.status()["market_hours"]
        order = await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", 2000)
    finally:
        await oms.close()

    assert hours.startswith("off: random-walk prices")
    assert order.status is ok.OrderStatus.OPEN
