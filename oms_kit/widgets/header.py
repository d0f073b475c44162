"""The dashboard's top line: trading state badge, equity, day P&L, backend, feed and clock."""

from __future__ import annotations

import ipywidgets as w

from oms_kit.snapshot import FeedView, account_view
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, classed
from oms_kit.widgets.format import clock_time, money, pnl_html

STATE_COLOURS = {"ACTIVE": "#1a7f37", "REDUCING": "#bf8700", "HALTED": "#cf222e"}


class Header(Panel):
    """Trading state (ACTIVE / REDUCING / HALTED, coloured), equity, day P&L, backend and durability, feed, clock.

    ``header.state.value`` is the trading state's name; the badge carries the DOM classes ``oms-state`` and
    ``oms-state-<STATE>``.
    """

    kinds = ("trading_state", "position", "fill", "price")
    css_class = "oms-header"

    def __init__(self, oms: OmsLike, *, interval: float = DEFAULT_INTERVAL, every: float | None = 1.0) -> None:
        super().__init__(oms, interval=interval, every=every)

    def _build(self) -> list[w.Widget]:
        self.state = classed(w.HTML("", layout=w.Layout(min_width="110px", justify_content="center")), "oms-state")
        self.equity = classed(w.HTML(), "oms-figure", "oms-equity")
        self.day_pnl = classed(w.HTML(), "oms-figure", "oms-day-pnl")
        self.backend = classed(w.HTML(), "oms-figure", "oms-backend")
        self.feed = classed(w.HTML(), "oms-figure", "oms-feed")
        self.clock = classed(w.HTML(), "oms-figure", "oms-clock")
        self._shown_state = ""
        line = w.HBox([self.state, self.equity, self.day_pnl, self.backend, self.feed, self.clock],
                      layout=w.Layout(align_items="center", flex_flow="row wrap"))
        return [line]

    def refresh(self) -> None:
        snapshot = account_view(self.oms)
        state = snapshot.trading_state
        if state != self._shown_state:
            if self._shown_state:
                self.state.remove_class(f"oms-state-{self._shown_state}")
            self.state.add_class(f"oms-state-{state}")
            self.state.value = state
            self.state.style.background = STATE_COLOURS.get(state, "#57606a")
            self.state.style.text_color = "white"
            self._shown_state = state
        self.equity.value = f"equity <b>{money(snapshot.equity)}</b>"
        self.day_pnl.value = f"day P&amp;L <b>{pnl_html(snapshot.day_pnl)}</b>"
        durable = "durable" if snapshot.durable else "in memory, not durable"
        read_only = " · <b>read-only</b>" if snapshot.read_only else ""
        self.backend.value = f"{snapshot.backend} <span class='oms-muted'>({durable})</span>{read_only}"
        self.feed.value = _feed_text(snapshot.feed)
        self.clock.value = clock_time(snapshot.taken_at)


def _feed_text(feed: FeedView | None) -> str:
    if feed is None:
        return "feed <span class='oms-muted'>none (prices by set_price)</span>"
    if feed.running:
        state = "<span class='oms-up'>● live</span>"
    elif feed.finished:
        state = "<span class='oms-muted'>■ finished</span>"
    else:
        state = "<span class='oms-down'>○ stopped</span>"
    return f"feed {feed.name} {state} <span class='oms-muted'>{feed.updates_sent:,} updates</span>"
