"""The watchlist: symbols with their last price, the day's change, best bid and ask and volume, live.

Type a symbol and press Enter (or Add) to watch it; the ✕ of a row removes it; a click on a row's symbol selects it,
and each callable of ``on_select`` is told (the dashboard fills its order ticket with the symbol, and shows its chart
where it has one). The figures come from the OMS's price events (:mod:`oms_kit.widgets.day_prices`); the rows are
redrawn at most a few times a second, like the other panels.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal
from html import escape
from typing import Any

import ipywidgets as w

from oms_kit.errors import ConfigError
from oms_kit.events import Event, PriceUpdated
from oms_kit.oms import OMS
from oms_kit.parsing import parse_price
from oms_kit.snapshot import position_views, symbols
from oms_kit.sync import SyncOMS
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, button, classed, close_tree, row_count
from oms_kit.widgets.day_prices import DayPrices, WatchRow
from oms_kit.widgets.format import DASH, money, sign_class, signed

SYMBOL_WIDTH = "104px"  # the symbol buttons' column
REMOVE_WIDTH = "34px"
SHOWN_CHARACTERS = 40  # of a refused entry in the message: whatever was pasted stays one line
FIRST_SYMBOLS = 20  # watched at first when none are named: each row is a few widgets in the browser
HINT_CANDIDATES = 5_000  # instruments compared with an unknown symbol for "did you mean" at most
# Narrow enough for the dashboard's right-hand column, the ✕ and the symbol first so they always show.
HEADING = f"{'last':>10} {'change':>9} {'chg %':>7}  {'bid':>10} {'ask':>10} {'volume':>11}"
ALL_FROM_CLOSE = "change: against the previous session's close"
ALL_FROM_FIRST = "change: since the first price seen today (no previous close known)"
MIXED = "change: against the previous session's close; * since the first price seen today (no close known)"


def check_symbol(oms: OMS, value: object) -> str:
    """``value`` as a symbol of ``oms``'s instruments: as typed, or in capitals (``infy`` is INFY).

    Raises :class:`~oms_kit.errors.ConfigError` naming the value (clipped to a line) and what is allowed, with a
    "did you mean" hint when a few instruments are spelt alike.
    """
    instruments = oms.manager.instruments
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text:
        for candidate in (text, text.upper()):
            if candidate in instruments:
                return candidate
    shown = text if not isinstance(text, str) or len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"
    raise ConfigError("symbol", shown, f"an instrument of this OMS ({len(instruments):,} defined)",
                      hint=_did_you_mean(text, instruments))


def _did_you_mean(text: object, instruments: Collection[str]) -> str | None:
    example = min(instruments, default=None)
    fallback = f"type the symbol of an instrument, e.g. {example}" if example is not None else None
    if not isinstance(text, str) or not text or len(text) > SHOWN_CHARACTERS or not text.isprintable():
        return fallback
    typed = text.upper()
    names = list(instruments)
    if len(names) > HINT_CANDIDATES:  # an instrument master: compare with those of the same first letter only
        names = [n for n in names if n[:1] == typed[:1]][:HINT_CANDIDATES]
    close = difflib.get_close_matches(typed, names, n=3, cutoff=0.6)
    return f"did you mean {' or '.join(close)}?" if close else fallback


class _Row:
    """The widgets of one watched symbol, kept while it is watched so a refresh only changes its text."""

    def __init__(self, panel: Watchlist, symbol: str) -> None:
        self.select = button(symbol, "oms-watch-select", tooltip=f"select {symbol}", width=SYMBOL_WIDTH)
        self.select.layout.flex = "0 0 auto"
        self.select.on_click(panel.handler(f"select {symbol}", lambda: panel.select(symbol)))
        self.text = classed(w.HTML(), "oms-row-text", "oms-watch-figures")
        self.remove = button("✕", "oms-watch-remove", tooltip=f"stop watching {symbol}", width=REMOVE_WIDTH)
        self.remove.layout.flex = "0 0 auto"
        self.remove.on_click(panel.handler(f"remove {symbol}", lambda: panel.remove(symbol)))
        self.box = classed(w.HBox([self.remove, self.select, self.text], layout=w.Layout(align_items="center")),
                           "oms-watch-row")


class Watchlist(Panel):
    """Watched symbols: last price, change and change % for the day, best bid and ask, the day's volume.

    Parameters
    ----------
    oms : the OMS (async or ``open_sync``).
    symbols : the symbols to watch at first, each an instrument of ``oms``; None: those with a price or a position
        now (sorted), at most 20 (``FIRST_SYMBOLS``).
    closes : the previous session's close of some symbols (``{"INFY": 1510.5}``), e.g. from yesterday's bars.
    max_rows : symbols watched at most.

    The change is against the previous session's close when it is known (given in ``closes`` or by
    :meth:`set_close`, or seen: the last price before a later day's first), else against the first price seen
    today; a note under the rows says which. Bid and ask are the best of the last quote
    (:class:`~oms_kit.market.quote.Quote`); a plain price has none, shown as a dash. Volume is summed over the
    day's bars and quotes that carry one, since the watchlist opened. A read-only OMS publishes no price events:
    there the last prices are read every second, without bid, ask or volume.

    ``watchlist.symbols`` are the symbols watched, in order; ``rows`` the :class:`WatchRow` last shown;
    ``selected`` the symbol last selected. ``add``, ``remove`` and ``select`` are the controls' twins; each
    callable in ``on_select`` is called with the symbol selected.
    """

    kinds = ("price",)
    title_text = "Watchlist"
    css_class = "oms-watchlist"

    def __init__(self, oms: OmsLike, symbols: Iterable[str] | None = None, *,
                 closes: Mapping[str, Decimal | float | int | str] | None = None, max_rows: int = 50,
                 interval: float = DEFAULT_INTERVAL, every: float | None = None) -> None:
        # Checked before any widget is made: a bad argument leaves nothing open behind it. Until Panel's __init__
        # runs, the panel counts as closed: the widget's __del__ (which closes it) then has nothing to do.
        self._closed = True
        self.max_rows = row_count("max_rows", max_rows)
        core = oms.oms if isinstance(oms, SyncOMS) else oms
        self._initial = _first_symbols(core, symbols, self.max_rows)
        self._closes = _checked_closes(core, closes)
        super().__init__(oms, interval=interval, every=every)

    def _build(self) -> list[w.Widget]:
        self.on_select: list[Callable[[str], None]] = []
        self.selected: str | None = None
        self.rows: tuple[WatchRow, ...] = ()
        self.book = DayPrices(self.oms.manager.session.zone)
        now = self.oms.clock.now()
        self.book.seed({s: p for s in symbols(self.oms) if (p := self.oms.last_price(s)) is not None}, now)
        for symbol, close in self._closes.items():
            self.book.set_close(symbol, close)
        self._symbols: list[str] = list(self._initial)
        self._watched = set(self._symbols)
        self._rows: dict[str, _Row] = {}
        self._shown: list[str] = []
        self.entry = classed(w.Text(placeholder="add a symbol, e.g. INFY", continuous_update=False,
                                    layout=w.Layout(width="220px")), "oms-watch-input")
        # Enter (or leaving the box) sends the value; Add sends what is typed if it has not gone already.
        self.entry.observe(self.handler("add symbol", lambda: self._typed(self.entry.value)), names="value")
        self.add_button = button("+ Add", "oms-watch-add")
        self.add_button.on_click(self.handler("add symbol", lambda: self._typed(self.entry.value)))
        top = w.HBox([self.entry, self.add_button], layout=w.Layout(align_items="center"))
        heading = classed(w.HTML(f"<span class='oms-muted'>{escape(HEADING)}</span>"), "oms-row-text")
        gap = w.HTML(layout=w.Layout(width=f"calc({REMOVE_WIDTH} + {SYMBOL_WIDTH} + 4px)", flex="0 0 auto"))
        self.heading = w.HBox([gap, heading], layout=w.Layout(overflow="hidden"))
        self.list = classed(w.VBox(layout=w.Layout(overflow="auto")), "oms-watch-list")
        self.note = classed(w.HTML(), "oms-watch-note")
        return [top, self.heading, self.list, self.note]

    @property
    def symbols(self) -> list[str]:
        """The symbols watched, in the order shown."""
        return list(self._symbols)

    def _on_event(self, event: Event) -> None:
        # Inside the OMS's publish, for every price of every symbol: the day's figures (the volume above all) must
        # see each event, so they are kept here; the redraw waits for the coalesced refresh.
        if isinstance(event, PriceUpdated):
            self.book.add(event.symbol, event.price, event.ts, event.bid, event.ask, event.volume)
            if event.symbol in self._watched:
                self.mark_stale()

    def refresh(self) -> None:
        oms, book = self.oms, self.book
        rows = []
        for symbol in self._symbols:
            # A read-only OMS publishes no prices, and one set before this panel was made came with no event:
            # the OMS's last price is the truth, the events add the rest.
            last = oms.last_price(symbol)
            day = book.symbols.get(symbol)
            if last is not None and (day is None or day.last != last):
                book.add(symbol, last, oms.clock.now())
                day = book.symbols[symbol]
            rows.append(WatchRow.of(symbol, day))
        self.rows = tuple(rows)
        mixed = len({r.basis for r in rows if r.basis is not None}) > 1
        for row in rows:
            widgets = self._rows.get(row.symbol)
            if widgets is None:
                widgets = self._rows[row.symbol] = _Row(self, row.symbol)
            text = _row_text(row, mark_first=mixed)
            if widgets.text.value != text:
                widgets.text.value = text
        for gone in set(self._rows) - self._watched:
            close_tree(self._rows.pop(gone).box)
        if self._shown != self._symbols:
            self._shown = list(self._symbols)
            self.list.children = tuple(self._rows[s].box for s in self._symbols)
        self.heading.layout.display = None if rows else "none"
        self.note.value = f"<span class='oms-muted'>{escape(_note(rows, mixed))}</span>"

    # -- actions ----------------------------------------------------------------------------------------------

    def add(self, symbol: str) -> str:
        """Watch ``symbol`` (an instrument of the OMS; ``infy`` is taken as INFY); returns the symbol as watched.

        Raises ConfigError for a symbol the OMS does not know, or when ``max_rows`` symbols are watched already.
        """
        checked = check_symbol(self.oms, symbol)
        if checked not in self._watched:
            if len(self._symbols) >= self.max_rows:
                raise ConfigError("symbols", checked, f"at most {self.max_rows} symbols in the watchlist (max_rows)",
                                  hint="remove one with its ✕ first")
            self._symbols.append(checked)
            self._watched.add(checked)
            self.refresh_now()
        return checked

    def remove(self, symbol: str) -> None:
        """Stop watching ``symbol``. Raises ConfigError when it is not watched."""
        if symbol not in self._watched:
            raise ConfigError("symbol", symbol, "a watched symbol: " + (", ".join(self._symbols) or "none is"))
        self._symbols.remove(symbol)
        self._watched.discard(symbol)
        if self.selected == symbol:
            self.selected = None
        self.refresh_now()
        self.say(f"removed {symbol}", "ok")

    def select(self, symbol: str) -> None:
        """Select ``symbol`` (a row's click): each of ``on_select`` is called with it. ConfigError when not watched."""
        if symbol not in self._watched:
            raise ConfigError("symbol", symbol, "a watched symbol: " + (", ".join(self._symbols) or "none is"))
        previous, self.selected = self.selected, symbol
        for shown, style in ((previous, ""), (symbol, "info")):
            if shown in self._rows:
                self._rows[shown].select.button_style = style
        for callback in tuple(self.on_select):
            try:
                callback(symbol)
            except Exception as exc:
                self.report(exc, f"select {symbol}")

    def set_close(self, symbol: str, price: Decimal | float | int | str) -> None:
        """The previous session's close of ``symbol`` (an instrument of the OMS): the change is measured from it.
        Raises ConfigError for an unknown symbol, InvalidOrderError for a price that is not one."""
        checked = check_symbol(self.oms, symbol)
        self.book.set_close(checked, parse_price(price, "close"))
        self.mark_stale()

    def _typed(self, text: Any) -> None:
        # What the user typed: added, or a message saying why not; the box keeps a refused entry to be corrected.
        if not isinstance(text, str) or not text.strip():
            return
        try:
            symbol = check_symbol(self.oms, text)
            already = symbol in self._watched
            self.add(symbol)
        except ConfigError as exc:
            hint = f" — {exc.hint}" if exc.hint else ""
            if exc.field == "symbols":
                self.say(f"{exc.value} not added: the watchlist holds at most {self.max_rows} symbols{hint}", "error")
            else:
                self.say(f"unknown symbol {exc.value!r}: not an instrument of this OMS{hint}", "error")
            return
        self.entry.value = ""
        self.say(f"{symbol} is in the watchlist already" if already else f"watching {symbol}", "ok")


def _first_symbols(oms: OMS, given: Iterable[str] | None, most: int) -> list[str]:
    if given is None:
        held = {p.symbol for p in position_views(oms)}
        return [s for s in symbols(oms) if s in held or oms.last_price(s) is not None][:min(most, FIRST_SYMBOLS)]
    if isinstance(given, str):
        raise ConfigError("symbols", given, "a list of symbols, e.g. ['INFY', 'TCS']")
    chosen: list[str] = []
    for value in given:
        symbol = check_symbol(oms, value)
        if symbol not in chosen:
            chosen.append(symbol)
    if len(chosen) > most:
        raise ConfigError("symbols", f"{len(chosen)} symbols", f"at most max_rows ({most})")
    return chosen


def _checked_closes(oms: OMS, closes: Mapping[str, Any] | None) -> dict[str, Decimal]:
    if closes is None:
        return {}
    if not isinstance(closes, Mapping):
        raise ConfigError("closes", closes, "a mapping of symbol to the previous session's close")
    return {check_symbol(oms, s): parse_price(p, f"closes[{s!r}]") for s, p in closes.items()}


def _row_text(row: WatchRow, *, mark_first: bool) -> str:
    if row.last is None:
        return escape(f"{DASH:>10}") + " <span class='oms-muted'>no price yet</span>"
    tone = sign_class(row.change)
    mark = "*" if mark_first and row.basis == "first" else " "
    pct = DASH if row.change_pct is None else f"{float(row.change_pct):+.2f}"
    volume = DASH if row.volume is None else f"{row.volume:,.0f}"
    change = f"<span class='{tone}'>{escape(f'{signed(row.change):>9} {pct:>7}{mark}')}</span>"
    return (f"{escape(f'{money(row.last):>10}')} {change} "
            f"{escape(f'{money(row.bid):>10} {money(row.ask):>10} {volume:>11}')}")


def _note(rows: list[WatchRow], mixed: bool) -> str:
    if not rows:
        return "type a symbol to watch it"
    if mixed:
        return MIXED
    if any(r.basis == "close" for r in rows):
        return ALL_FROM_CLOSE
    return ALL_FROM_FIRST
