"""The parts the OMS delegates to, at their own seams: a quote and instruments given by hand (``quotes``), the
background tasks (``tasks``), the write path's halts and write-behind errors (``committer``), the order of the book
(``book``), and the risk summary (``summary``).

The OMS's own tests reach these through its methods; these pin what each part promises on its own, with hostile
values where a part is a door.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_kit import OMS, ConfigError, DataError, Instrument, RiskLimits, SimulatedClock, TradingState
from oms_kit.book import placed
from oms_kit.committer import Committer
from oms_kit.errors import StoreError
from oms_kit.instruments import default_instruments
from oms_kit.models import Order, Side
from oms_kit.parsing import MAX_PRICE
from oms_kit.quotes import add_instruments, quote_bar
from oms_kit.storage import RowError, WriteQueue, open_store
from oms_kit.storage.recorder import Recorder
from oms_kit.tasks import Tasks

NOW = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
HOSTILE = st.sampled_from([
    None, True, False, 0, -1, 2**63, -(2**63), math.nan, math.inf, -math.inf, 1e308, 5e-324, "", " ", "abc", "NaN",
    "1e400", "-0", "١٢", "\x00", "A" * 10_000, b"2500", [], {}, object(), Decimal("1e400"), Decimal("NaN"),
    Decimal("sNaN"), Decimal("-0"), Decimal("1e-30"), datetime(2026, 1, 1), 2500j,
])
PRICES = st.one_of(HOSTILE, st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 2 * 10**9),
                   st.decimals(allow_nan=False, allow_infinity=False), st.sampled_from(["2500", " 801.05 ", "1e3"]))
VOLUMES = st.one_of(st.none(), HOSTILE, st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**12))
SYMBOLS = st.one_of(HOSTILE, st.sampled_from(["RELIANCE", "SBIN", "NOSUCH", "reliance"]))


# == quotes ======================================================================================================

@given(symbol=SYMBOLS, price=PRICES, volume=VOLUMES)
def test_a_quote_is_a_one_price_bar_in_range_or_refused_naming_its_first_bad_field(symbol: Any, price: Any,
                                                                                    volume: Any) -> None:
    instruments = default_instruments()
    try:
        bar = quote_bar(symbol, price, volume, instruments, NOW)
    except DataError as exc:
        assert exc.field in ("symbol", "price", "volume")
        symbol_ok = isinstance(symbol, str) and symbol in instruments
        assert (exc.field == "symbol") is not symbol_ok
        return
    assert bar.symbol == symbol and bar.timestamp == NOW
    assert bar.open == bar.high == bar.low == bar.close == float(price) and 0 < bar.close <= MAX_PRICE
    assert math.isnan(bar.volume) if volume is None else bar.volume == volume and 0 <= volume < math.inf


@given(items=st.lists(st.one_of(HOSTILE, st.sampled_from([
    Instrument("NEWCO", tick_size="0.05"), Instrument("NEWCO", tick_size="0.10"), Instrument("OTHER"),
    Instrument("RELIANCE", tick_size="0.05"), Instrument("RELIANCE", tick_size="1")])), max_size=4))
def test_instruments_are_added_all_together_or_none_with_a_config_error(items: list[Any]) -> None:
    known = default_instruments()
    before = dict(known)
    try:
        add_instruments(known, items)
    except ConfigError as exc:
        assert exc.field.startswith("instruments")
        assert known == before  # nothing half-added
        return
    assert all(known[i.symbol] == i for i in items) and before.items() <= known.items()


# == tasks =======================================================================================================

async def test_a_failed_task_is_logged_when_it_fails_and_stop_ends_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    tasks = Tasks()

    async def fail() -> None:
        raise ValueError("boom")

    tasks.start("sleeper", asyncio.sleep(3600))
    tasks.start("failing", fail())
    await asyncio.sleep(0)
    await asyncio.sleep(0)

    assert tasks.alive() == {"sleeper": True, "failing": False}
    assert "background task failing failed" in caplog.text and "boom" in caplog.text
    await tasks.stop()
    assert tasks.alive() == {"sleeper": False, "failing": False} and tasks["sleeper"].cancelled()


# == committer ===================================================================================================

def _refuse_trades(oms: OMS, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real store, refusing any transaction that holds a trade row, as it refuses a value its column cannot hold.
    write = oms.store.write

    async def refusing_write(rows: Any) -> None:
        if any(table == "trades" for table, _ in rows):
            raise RowError("cannot write trades.quantity", table="trades", column="quantity")
        await write(rows)

    monkeypatch.setattr(oms.store, "write", refusing_write)


async def test_a_fill_the_durable_store_refuses_halts_trading_with_source_persistence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    oms = await OMS.open(f"duckdb:///{tmp_path}/oms.duckdb", feed=None, risk_interval=None,
                         clock=SimulatedClock(NOW), limits=RiskLimits(duplicate_window_s=None))
    try:
        await oms.set_price("RELIANCE", 2500)
        order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2490)
        _refuse_trades(oms, monkeypatch)

        await oms.set_price("RELIANCE", 2480)  # fills the order: its trade row is refused
        await oms.tasks["oms-kit-row-halt"]

        assert oms.trading_state is TradingState.HALTED
        assert oms.get_order(order.order_id).filled_quantity == 10  # it happened at the broker all the same
        changes = await oms.store.fetch("SELECT to_state, source FROM trading_state_changes")
        assert changes == [{"to_state": "HALTED", "source": "persistence"}]
        assert "could not be stored" in caplog.text
    finally:
        await oms.close()


async def test_a_write_behind_the_memory_store_refuses_is_counted_and_logged_and_trading_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    oms = await OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, clock=SimulatedClock(NOW))
    try:
        await oms.set_price("RELIANCE", 2500)
        await oms.flush()
        # A row its column cannot hold (a quantity beyond BIGINT), waiting with the order's rows: the real write
        # path refuses it, as it refuses any value its column cannot hold. Given to the store's buffers directly:
        # the recorder that builds the order path's rows may be compiled, and compiled code cannot be patched.
        oms.store.behind.keep([("trades", ("T-unstorable", "O-unstorable", oms.account, "RELIANCE", "MIS", "BUY",
                                           2**70, Decimal("2500"), Decimal("0"), NOW))])

        order = await oms.place_order("RELIANCE", "BUY", 10)  # fills at once; its rows are written behind
        await oms.flush()  # the write-behind's error has no caller to go to: it is counted and logged

        writes = oms.status()["writes"]
        assert writes["errors"] == 1 and writes["write_behind"] is True and writes["rejected_rows"] == 1
        assert "write-behind to duckdb:///:memory:" in caplog.text and "trades.quantity" in caplog.text
        assert oms.trading_state is TradingState.ACTIVE  # in memory nothing outlives the process: no halt
        # The order's rows were stored all the same, its trade too; the unstorable row alone was refused.
        stored = await oms.store.fetch("SELECT status FROM orders WHERE order_id = $1", order.order_id)
        assert stored == [{"status": "FILLED"}]
        trades = await oms.store.fetch("SELECT order_id FROM trades")
        assert trades == [{"order_id": order.order_id}]
    finally:
        await oms.close()


async def test_a_store_that_is_not_durable_without_write_buffers_is_refused_naming_its_url() -> None:
    # Rows that are written behind wait in the store's buffers: without them nothing would ever write them.
    store: Any = await open_store("duckdb:///:memory:")
    behind, store.behind = store.behind, None
    figures: Any = lambda: None  # noqa: E731  # never called: the committer is refused first

    async def halt(reason: str) -> None:
        pass

    try:
        with pytest.raises(StoreError, match="is not durable and keeps no write buffers") as info:
            Committer(store, WriteQueue(store), Recorder("default", figures), "default",
                      start_task=lambda name, coroutine: None, halt=halt)
        assert info.value.message.startswith("duckdb:///:memory:")
    finally:
        store.behind = behind
        await store.close()


# == book ========================================================================================================

@given(numbers=st.lists(st.integers(0, 10**6), min_size=1, max_size=30, unique=True),
       offsets=st.lists(st.integers(0, 3), min_size=30, max_size=30))
def test_orders_sort_as_placed_by_time_then_by_their_number_not_their_text(numbers: list[int],
                                                                            offsets: list[int]) -> None:
    orders = [Order(f"O-ab12cd-{n}", f"C-{n}", "RELIANCE", Side.BUY, 1, created_at=NOW + timedelta(seconds=offsets[i]))
              for i, n in enumerate(numbers)]
    ordered = sorted(orders, key=placed)
    assert [(o.created_at, int(o.order_id.rsplit("-", 1)[1])) for o in ordered] == sorted(
        (o.created_at, n) for o, n in zip(orders, numbers, strict=True))


# == summary =====================================================================================================

async def test_the_risk_summary_shows_each_limit_with_its_use() -> None:
    oms = await OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, clock=SimulatedClock(NOW),
                         cash=100_000, limits=RiskLimits(max_open_orders=4))
    try:
        await oms.set_price("RELIANCE", 2500)
        await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", 2400)

        summary = oms.risk_summary()

        assert summary["trading_state"] == "ACTIVE" and summary["cash"] == Decimal(100_000)
        limits = summary["limits"].set_index("limit")
        assert list(summary["limits"].columns) == ["limit", "symbol", "value", "maximum", "use_pct", "level"]
        assert limits.loc["max_open_orders", "use_pct"] == 25.0 and summary["alerts"] == []
    finally:
        await oms.close()
