"""The watchlist panel on a real OMS (in-memory DuckDB, no feed): prices, quotes and bars pushed, rows read, the
text box typed into, rows clicked; and the price events' bid, ask and volume it reads."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit import OMS
from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.events import PriceUpdated
from oms_kit.widgets import Dashboard, Watchlist
from oms_kit.widgets.watchlist import ALL_FROM_CLOSE, ALL_FROM_FIRST, MIXED

DAY_ONE = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # 10:30 in Mumbai
DAY_TWO = DAY_ONE + timedelta(days=1)


@pytest.fixture
async def oms() -> AsyncIterator[OMS]:
    opened = await ok.OMS.open(feed=None, fees=None, risk_interval=None)
    await opened.set_price("RELIANCE", 2500.0)
    await opened.set_price("TCS", 3900.0)
    yield opened
    await opened.close()


@pytest.fixture
def shown() -> Any:
    """Make panels and close them after the test (no comm or subscription left behind)."""
    made: list[Any] = []

    def show(kind: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        widget = kind(*args, **kwargs)
        made.append(widget)
        return widget

    yield show
    for widget in made:
        widget.close()


def row(panel: Watchlist, symbol: str) -> Any:
    return next(r for r in panel.rows if r.symbol == symbol)


def figures(panel: Watchlist, symbol: str) -> str:
    return panel._rows[symbol].text.value


def quote(oms: OMS, symbol: str, last: float, volume: float, bid: float, ask: float, at: datetime | None = None
          ) -> ok.Quote:
    return ok.Quote(at or oms.clock.now(), symbol, last, volume, bids=[(bid, 10), (bid - 0.05, 20)],
                    asks=[(ask, 15)])


# -- the price events -------------------------------------------------------------------------------------------------


async def test_price_events_carry_a_quotes_best_bid_and_ask_and_the_volume(oms):
    seen: list[PriceUpdated] = []
    unsubscribe = oms.subscribe(seen.append, "price")
    await oms.set_price("TCS", 3901.0)
    await oms.set_price("TCS", 3902.0, volume=250)
    await oms.push_bar(quote(oms, "TCS", 3903.0, 40, 3902.95, 3903.05))
    await oms.push_bar(ok.Quote(oms.clock.now(), "TCS", 3904.0, asks=[(3904.05, 3)]))  # no bids, volume unknown
    unsubscribe()

    assert [e.price for e in seen] == [Decimal("3901.00"), Decimal("3902.00"), Decimal("3903.00"), Decimal("3904.00")]
    assert [(e.bid, e.ask) for e in seen] == [(None, None), (None, None), (Decimal("3902.95"), Decimal("3903.05")),
                                              (None, Decimal("3904.05"))]
    assert [e.volume for e in seen] == [None, 250, 40, None]


async def test_nobody_listening_means_no_price_event_is_built(oms):
    published = oms.bus.published
    await oms.push_bar(quote(oms, "TCS", 3903.0, 40, 3902.95, 3903.05))
    assert not oms.bus.wants("price") and oms.bus.published == published


# -- following prices -------------------------------------------------------------------------------------------------


async def test_the_rows_follow_prices_quotes_and_bars(oms, shown):
    panel = shown(Watchlist, oms, ["TCS", "RELIANCE", "INFY"])
    assert panel.symbols == ["TCS", "RELIANCE", "INFY"]
    first_tcs = oms.last_price("TCS")  # set before the panel: its first price of the day
    assert row(panel, "INFY").last is None and "no price yet" in figures(panel, "INFY")

    await oms.push_bar(quote(oms, "TCS", 3911.5, 120, 3911.45, 3911.55))
    await oms.push_bar(quote(oms, "TCS", 3888.25, 80, 3888.2, 3888.3))
    await oms.set_price("RELIANCE", 2475.0, volume=1_000)
    await oms.push_bar(ok.Bar(oms.clock.now(), "RELIANCE", 2475.0, 2480.0, 2470.0, 2472.5, 500.0))
    await oms.set_price("INFY", 1500.0)
    await panel.settle()

    tcs = row(panel, "TCS")
    assert tcs.last == Decimal("3888.25") == oms.last_price("TCS")
    assert tcs.basis == "first" and tcs.reference == first_tcs
    assert tcs.change == Decimal("3888.25") - first_tcs
    assert tcs.change_pct == tcs.change / first_tcs * 100 and tcs.change_pct < 0
    assert (tcs.bid, tcs.ask) == (Decimal("3888.2"), Decimal("3888.3"))
    assert tcs.volume == 120 + 80
    text = figures(panel, "TCS")
    for shown_figure in ("3,888.25", f"{float(tcs.change):+,.2f}", f"{float(tcs.change_pct):+.2f}", "3,888.20",
                         "3,888.30", "200"):
        assert shown_figure in text, (shown_figure, text)
    assert "oms-down" in text  # below its first price: red

    reliance = row(panel, "RELIANCE")
    assert reliance.last == Decimal("2472.50") and reliance.volume == 1_000 + 500
    assert reliance.bid is None and reliance.ask is None  # bars and plain prices have no book: dashes
    assert figures(panel, "RELIANCE").count("—") == 2
    assert row(panel, "INFY").change == 0 and row(panel, "INFY").volume is None
    assert escape(ALL_FROM_FIRST) in panel.note.value

    await oms.set_price("TCS", 3920.0)  # a plain price after quotes: the book is gone
    await panel.settle()
    assert row(panel, "TCS").bid is None and row(panel, "TCS").change > 0
    assert "oms-up" in figures(panel, "TCS")
    assert not panel.errors


async def test_a_burst_of_prices_is_one_redraw_and_every_volume_counts(oms, shown):
    panel = shown(Watchlist, oms, ["TCS"])
    before = panel.refreshes
    volumes = [float(v) for v in range(1, 301)]
    for i, volume in enumerate(volumes):  # within one turn of the loop, as a feed's burst
        oms.apply_bar(quote(oms, "TCS", 3900.0 + (i % 7) * 0.05, volume, 3899.95, 3900.5))
    assert panel.refreshes == before  # only marked stale: the redraw waits for the loop
    await panel.settle()
    assert panel.refreshes == before + 1
    assert row(panel, "TCS").volume == math.fsum(volumes)


async def test_prices_of_symbols_not_watched_cost_no_redraw_but_are_kept(oms, shown):
    panel = shown(Watchlist, oms, ["TCS"])
    await panel.settle()
    before = panel.refreshes
    await oms.set_price("SBIN", 800.0, volume=10)
    await oms.set_price("SBIN", 810.0, volume=15)
    await panel.settle()
    assert panel.refreshes == before

    panel.add("SBIN")
    sbin = row(panel, "SBIN")
    assert (sbin.last, sbin.reference, sbin.volume) == (Decimal("810.00"), Decimal("800.00"), 25)


async def test_change_is_against_the_previous_close_when_known_and_the_panel_says_so(oms, shown):
    panel = shown(Watchlist, oms, ["TCS", "RELIANCE"], closes={"tcs": "3850.5"})
    await panel.settle()
    tcs = row(panel, "TCS")
    assert tcs.basis == "close" and tcs.reference == Decimal("3850.5")
    assert tcs.change == oms.last_price("TCS") - Decimal("3850.5")
    assert row(panel, "RELIANCE").basis == "first"
    assert escape(MIXED) in panel.note.value
    assert "*" in figures(panel, "RELIANCE") and "*" not in figures(panel, "TCS")

    panel.set_close("RELIANCE", 2450)
    await panel.settle()
    assert row(panel, "RELIANCE").reference == Decimal("2450")
    assert escape(ALL_FROM_CLOSE) in panel.note.value and "*" not in figures(panel, "RELIANCE")
    with pytest.raises(InvalidOrderError, match="close"):
        panel.set_close("TCS", -1)
    with pytest.raises(ConfigError, match="symbol"):
        Watchlist(oms, ["TCS"], closes={"NOPE": 10})


async def test_a_new_day_makes_the_last_price_the_previous_close_and_starts_the_volume_again(oms, shown):
    panel = shown(Watchlist, oms, ["INFY"])
    await oms.push_bar(quote(oms, "INFY", 1490.0, 300, 1489.95, 1490.05, at=DAY_ONE))
    await oms.push_bar(quote(oms, "INFY", 1495.5, 200, 1495.45, 1495.55, at=DAY_ONE + timedelta(hours=4)))
    await oms.push_bar(quote(oms, "INFY", 1501.0, 50, 1500.95, 1501.05, at=DAY_TWO))
    await panel.settle()
    infy = row(panel, "INFY")
    assert infy.basis == "close" and infy.reference == Decimal("1495.50")
    assert infy.change == Decimal("1501.00") - Decimal("1495.50") and infy.volume == 50
    assert escape(ALL_FROM_CLOSE) in panel.note.value


# -- add, remove, select ----------------------------------------------------------------------------------------------


async def test_add_and_remove_symbols_by_the_text_box_and_the_buttons(oms, shown):
    panel = shown(Watchlist, oms, [])
    assert panel.symbols == [] and "type a symbol" in panel.note.value

    panel.entry.value = "  sbin "  # Enter in the browser sends the value
    assert panel.symbols == ["SBIN"] and panel.entry.value == ""
    assert "watching SBIN" in panel.last_message
    panel.entry.value = "TCS"
    panel.entry.value = "tcs"  # already watched: not twice
    assert panel.symbols == ["SBIN", "TCS"] and "TCS is in the watchlist already" in panel.last_message
    boxes = panel.list.children
    assert [b.children[1].description for b in boxes] == ["SBIN", "TCS"]  # ✕, then the symbol's button

    panel._rows["SBIN"].remove.click()
    assert panel.symbols == ["TCS"] and "SBIN" not in panel._rows
    assert boxes[0].comm is None  # the removed row's widgets are closed
    assert [b.children[1].description for b in panel.list.children] == ["TCS"]
    with pytest.raises(ConfigError, match="watched symbol"):
        panel.remove("SBIN")
    assert not panel.errors


async def test_an_unknown_symbol_is_refused_with_a_clear_message(oms, shown):
    panel = shown(Watchlist, oms, ["TCS"])
    panel.entry.value = "INFYY"
    assert panel.symbols == ["TCS"]
    assert "unknown symbol 'INFYY': not an instrument of this OMS" in panel.last_message
    assert "did you mean INFY" in panel.last_message
    assert panel.entry.value == "INFYY"  # kept, to be corrected
    assert "oms-msg-error" in panel._message.value

    panel.entry.value = "<img src=x onerror=alert(1)>"
    assert "unknown symbol" in panel.last_message and "<img" not in panel._message.value
    with pytest.raises(ConfigError, match="instrument of this OMS"):
        panel.add("NOPE")
    assert not panel.errors


async def test_the_watchlist_holds_at_most_max_rows(oms, shown):
    panel = shown(Watchlist, oms, ["TCS", "SBIN"], max_rows=2)
    panel.entry.value = "INFY"
    assert panel.symbols == ["TCS", "SBIN"] and "at most 2 symbols" in panel.last_message
    with pytest.raises(ConfigError, match="max_rows"):
        Watchlist(oms, ["TCS", "SBIN", "INFY"], max_rows=2)
    with pytest.raises(ConfigError, match="a list of symbols"):
        Watchlist(oms, "TCS")


async def test_clicking_a_row_selects_it_and_tells_each_callback(oms, shown):
    panel = shown(Watchlist, oms, ["TCS", "RELIANCE"])
    told: list[str] = []

    def broken(symbol: str) -> None:
        raise RuntimeError(f"chart for {symbol} failed")

    panel.on_select.extend([broken, told.append])
    panel._rows["RELIANCE"].select.click()
    assert panel.selected == "RELIANCE" and told == ["RELIANCE"]  # a broken callback does not stop the others
    assert panel._rows["RELIANCE"].select.button_style == "info"
    assert any("chart for RELIANCE failed" in e for e in panel.errors)
    panel._rows["TCS"].select.click()
    assert told == ["RELIANCE", "TCS"] and panel._rows["RELIANCE"].select.button_style == ""


async def test_in_the_dashboard_a_click_fills_the_order_ticket_and_switches_the_chart(oms, shown):
    dashboard = shown(Dashboard, oms)
    assert dashboard.watchlist in dashboard.panels
    assert dashboard.watchlist.symbols == ["RELIANCE", "TCS"]  # the symbols with a price
    assert dashboard.candles.chart.symbol == "RELIANCE"
    dashboard.watchlist._rows["TCS"].select.click()
    assert dashboard.ticket.symbol.value == "TCS"
    assert dashboard.candles.chart.symbol == "TCS"
    await dashboard.settle()
    assert dashboard.ticket.request().symbol == "TCS"
    feedback = dashboard.ticket.feedback.value  # the ticket's live check ran on the symbol's order
    assert "passes all" in feedback and f"value {float(oms.last_price('TCS')):,.2f}" in feedback
    dashboard.watchlist.entry.value = "sbin"
    dashboard.watchlist._rows["SBIN"].select.click()
    assert dashboard.ticket.symbol.value == "SBIN"
    assert dashboard.candles.chart.symbol == "TCS"  # no price, no candles yet: the chart stays
    await oms.set_price("SBIN", 800.0)
    dashboard.watchlist._rows["SBIN"].select.click()
    assert dashboard.candles.chart.symbol == "SBIN"
    assert all(not p.errors for p in dashboard.panels), [p.errors for p in dashboard.panels]


# -- hostile typing ---------------------------------------------------------------------------------------------------

TYPED = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=60),  # controls and lone surrogates too
    st.sampled_from(["INFY", "tcs", " Sbin\t", "RELIANCE\n", "ＩＮＦＹ", "INFY\x00", "I NFY", "<b>TCS</b>", "'", "\\",
                     "TCS" * 50, "\ud800", "ß", "infy'; DROP TABLE x; --"]),
)


def test_hostile_typed_symbols_are_added_or_refused_plainly():
    oms = ok.open_sync(feed=None, fees=None, risk_interval=None)
    panel = Watchlist(oms, [])  # outside a loop: each change redraws at once
    known = set(ok.snapshot.symbols(oms.oms))
    try:

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(typed=TYPED)
        def check(typed: str) -> None:
            before = panel.symbols
            panel.entry.value = ""
            panel.say("")
            panel.entry.value = typed
            stripped = typed.strip()
            expected = next((c for c in (stripped, stripped.upper()) if stripped and c in known), None)
            if expected is not None:
                assert panel.symbols[-1] == expected or expected in before
                assert panel.entry.value == ""
                panel.remove(expected)
            elif stripped:
                assert panel.symbols == before
                assert panel.last_message.startswith("unknown symbol ")
            else:
                assert panel.symbols == before and panel.last_message == ""
            assert set(panel.symbols) <= known
            message = panel._message.value
            message.encode("utf-8")  # what the comm sends: a lone surrogate would break it
            json.dumps(message)
            assert message.count("<") == 2  # only the span's own tags: whatever was typed is escaped
            assert not panel.errors, panel.errors

        check()
    finally:
        panel.close()
        oms.close()


# -- read-only --------------------------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_a_read_only_watchlist_reads_the_writers_prices(pg_url, shown):
    writer = await ok.OMS.open(pg_url, feed=None, risk_interval=None)
    watcher = await ok.OMS.open(pg_url, feed=None, risk_interval=None, read_only=True)
    try:
        panel = shown(Watchlist, watcher, ["RELIANCE"])
        await writer.set_price("RELIANCE", 2500.0)
        await writer.place_order("RELIANCE", "BUY", 10)
        await until(lambda: row(panel, "RELIANCE").last == Decimal("2500.00"), "the writer's price")
        assert row(panel, "RELIANCE").bid is None and not panel.errors
    finally:
        await watcher.close()
        await writer.close()


async def until(condition: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"the watchlist did not show {what} within {seconds} s"
        await asyncio.sleep(0.05)
