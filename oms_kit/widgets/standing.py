"""Standing orders: the active GTTs and order programs (brackets, cover orders, trailing stops, icebergs), one row
each with its own Delete or Cancel button."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

import ipywidgets as w

from oms_kit.snapshot import GttLegView, GttView, OrderView, ProgramView, gtt_views, program_views
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, button, classed, close_tree, row_count
from oms_kit.widgets.format import money
from oms_kit.widgets.orders import SHORT_STATUS

ACTIVE = "active"
BUTTON_WIDTH = "84px"


@dataclass(frozen=True)
class _Kind:
    """What tells a GTT's row from a program's: the button's label and DOM class, the verb of its action, the
    row's DOM classes (``oms-gtt-row`` and ``oms-gtt-<id>``) and the panel method its button calls."""

    label: str
    button_css: str
    verb: str
    row_css: str
    id_css: str
    action: Callable[[StandingPanel], Callable[[str], Any]]


GTT_ROW = _Kind("✕ Delete", "oms-gtt-delete", "delete GTT", "oms-gtt-row", "oms-gtt", lambda panel: panel.delete_gtt)
PROGRAM_ROW = _Kind("✕ Cancel", "oms-program-cancel", "cancel program", "oms-program-row",
                    "oms-program", lambda panel: panel.cancel_program)


class _Row:
    """The widgets of one GTT's or program's row, kept while it is active so a refresh only changes its text."""

    def __init__(self, panel: StandingPanel, key: str, kind: _Kind) -> None:
        self.label = kind.label
        self.text = classed(w.HTML(), "oms-row-text")
        self.button = button(kind.label, kind.button_css, "warning", tooltip=f"{kind.verb} {key}",
                             width=BUTTON_WIDTH)
        self.button.layout.flex = "0 0 auto"
        self.button.on_click(panel.handler(f"{kind.verb} {key}", lambda: kind.action(panel)(key)))
        self.button.layout.display = "none" if panel.read_only else None
        self.box = classed(w.HBox([self.button, self.text], layout=w.Layout(align_items="center")),
                           kind.row_css, f"{kind.id_css}-{key}")

    def busy(self) -> None:
        self.button.disabled = True
        self.button.description = "…"

    def ready(self) -> None:
        self.button.disabled = False
        self.button.description = self.label


class StandingPanel(Panel):
    """The account's active GTTs and order programs, oldest first, each with a button that deletes the GTT or
    cancels the program (its working orders are cancelled; the positions its fills made stay).

    Parameters
    ----------
    oms : the OMS (async or ``open_sync``).
    max_rows : rows shown at most in each list; the rest are counted.
    every : refresh at least this often (seconds): a GTT made or deleted elsewhere (a notebook cell, the HTTP API)
        publishes no event of its own; a GTT firing and a program's legs do (their orders').

    ``gtts_shown`` and ``programs_shown`` are the rows' views (:class:`~oms_kit.snapshot.GttView`,
    :class:`~oms_kit.snapshot.ProgramView`); ``gtt_ids`` and ``program_ids`` their ids. ``delete_gtt(gtt_id)``
    and ``cancel_program(program_id)`` are the buttons' twins: they return the task running the call (await it for
    the result) or None when it ran at once.
    """

    kinds = ("order", "price")
    title_text = "Standing orders: GTTs and programs"
    css_class = "oms-standing"

    def __init__(self, oms: OmsLike, *, max_rows: int = 50, interval: float = DEFAULT_INTERVAL,
                 every: float | None = 1.0) -> None:
        self.max_rows = row_count("max_rows", max_rows)
        super().__init__(oms, interval=interval, every=every)

    def _build(self) -> list[w.Widget]:
        self.gtts_shown: tuple[GttView, ...] = ()
        self.programs_shown: tuple[ProgramView, ...] = ()
        self.gtt_ids: list[str] = []
        self.program_ids: list[str] = []
        self._gtt_rows: dict[str, _Row] = {}
        self._program_rows: dict[str, _Row] = {}
        self.gtt_count = classed(w.HTML(), "oms-gtt-count")
        self.gtt_list = classed(w.VBox(layout=w.Layout(overflow="auto")), "oms-gtt-list")
        self.program_count = classed(w.HTML(), "oms-program-count")
        self.program_list = classed(w.VBox(layout=w.Layout(overflow="auto")), "oms-program-list")
        return [self.gtt_count, self.gtt_list, self.program_count, self.program_list]

    def refresh(self) -> None:
        gtts = gtt_views(self.oms, ACTIVE)
        programs = program_views(self.oms, ACTIVE)
        self.gtts_shown, self.programs_shown = gtts[: self.max_rows], programs[: self.max_rows]
        self.gtt_ids = self._show(self.gtts_shown, self._gtt_rows, self.gtt_list, self.gtt_ids, GTT_ROW)
        self.program_ids = self._show(self.programs_shown, self._program_rows, self.program_list, self.program_ids,
                                      PROGRAM_ROW)
        self.gtt_count.value = _count(len(gtts), len(self.gtts_shown), "GTT")
        self.program_count.value = _count(len(programs), len(self.programs_shown), "order program")

    def _show(self, views: tuple[Any, ...], rows: dict[str, _Row], box: w.VBox, shown: list[str],
              kind: _Kind) -> list[str]:
        ids = []
        for view in views:
            key = view.gtt_id if isinstance(view, GttView) else view.program_id
            ids.append(key)
            row = rows.get(key)
            if row is None:
                row = rows[key] = _Row(self, key, kind)
            text = gtt_text(view) if isinstance(view, GttView) else program_text(view)
            if row.text.value != text:
                row.text.value = text
        for gone in set(rows) - set(ids):
            close_tree(rows.pop(gone).box)
        if ids != shown:
            box.children = tuple(rows[i].box for i in ids)
        return ids

    # -- actions ----------------------------------------------------------------------------------------------

    def delete_gtt(self, gtt_id: str) -> asyncio.Task[Any] | None:
        """Delete an active GTT (its row's button): it no longer fires."""
        row = self._gtt_rows.get(gtt_id)
        if row is not None:
            row.busy()

        def done(gtt: Any) -> None:
            self.say(f"GTT {gtt.gtt_id} {gtt.status}", "ok")

        return self._act(f"delete GTT {gtt_id}", lambda oms: oms.delete_gtt(gtt_id), then=done)

    def cancel_program(self, program_id: str) -> asyncio.Task[Any] | None:
        """Cancel an active order program (its row's button): its working orders are cancelled."""
        row = self._program_rows.get(program_id)
        if row is not None:
            row.busy()

        def done(program: Any) -> None:
            self.say(f"{program.kind} {program.program_id} {program.status}", "ok")

        return self._act(f"cancel program {program_id}", lambda oms: oms.cancel_program(program_id), then=done)

    def _action_failed(self, what: str, exc: BaseException) -> None:
        super()._action_failed(what, exc)
        for row in (*self._gtt_rows.values(), *self._program_rows.values()):  # still active: offer it again
            if row.button.disabled:
                row.ready()
        self.mark_stale()  # a refusal may mean it ended meanwhile (fired, deleted elsewhere): its row goes


def _count(total: int, shown: int, noun: str) -> str:
    more = f" ({total - shown:,} not shown)" if total > shown else ""
    return f"<span class='oms-muted'>{total:,} active {noun}{'' if total == 1 else 's'}{more}</span>"


def _side(side: str) -> str:
    return f"<span class='{'oms-up' if side == 'BUY' else 'oms-down'}'>{side}</span>"


def _order(side: str, quantity: int, order_type: str, price: Any, trigger_price: Any, product: str) -> str:
    # "BUY 5 LIMIT 2,551.00 MIS", "SELL 5 SL-M ▲2,390.00 MIS": the order a GTT leg places.
    prices = "" if price is None else f" {money(price)}"
    if trigger_price is not None:
        prices += f" trigger {money(trigger_price)}"
    return f"{_side(side)} {escape(f'{quantity:,} {order_type}{prices} {product}')}"


def _leg(leg: GttLegView, above: bool, name: str = "") -> str:
    arrow = "▲" if above else "▼"
    head = f"{name} " if name else ""
    return (f"{escape(head)}{arrow}{money(leg.trigger)} → "
            f"{_order(leg.side, leg.quantity, leg.order_type, leg.price, leg.trigger_price, leg.product)}")


# Where a row's second line starts: under its legs or orders, after the id, kind and symbol.
INDENT = " " * 27


def gtt_text(g: GttView) -> str:
    """A GTT's row: id, kind, symbol, each leg's trigger (▲ fires at or above, ▼ at or below) and order, status and
    expiry date; a two-leg GTT's target on a second line."""
    head = escape(f"{g.gtt_id:<6} {g.kind:<8} {g.symbol:<10} ")
    tail = escape(f"  {g.status}  expires {g.expires_at.astimezone().date().isoformat()}")
    if g.kind == "single":
        return f"{head}{_leg(g.legs[0], g.legs[0].trigger > g.last_price)}{tail}"
    return f"{head}{_leg(g.legs[0], False, 'stop')}{tail}\n{INDENT}{_leg(g.legs[1], True, 'target')}"


def _order_state(o: OrderView | None) -> str:
    if o is None:
        return ""
    status = SHORT_STATUS.get(o.status, o.status)
    filled = f" {o.filled_quantity:,}@{money(o.average_price)}" if o.filled_quantity else ""
    return f" {o.order_id} {status}{filled}"


def _stop(stop: OrderView) -> str:
    # A SELL stop fires at or below its trigger (▼), a BUY stop at or above (▲).
    return f"stop {'▼' if stop.side == 'SELL' else '▲'}{money(stop.trigger_price)}{_order_state(stop)}"


def program_text(p: ProgramView) -> str:
    """A program's row: id, kind, symbol, side and quantity, status, then its orders and their prices (the entry,
    and on a second line the target and the stop of a bracket or cover; the trailing stop and its best price; an
    iceberg's legs)."""
    head = f"{escape(f'{p.program_id:<6} {p.kind:<8} {p.symbol:<10} ')}{_side(p.side)}" \
           f"{escape(f' {p.quantity:,}  {p.status}  ')}"
    parts = []
    entry = p.order(p.entry_id)
    if p.kind in ("bracket", "cover"):
        price = money(p.price) if p.price is not None else "MKT"
        parts.append(f"entry {p.order_type} {price}{_order_state(entry)}")
        target, stop = p.order(p.target_id), p.order(p.stop_id)
        if p.target is not None:
            parts.append(f"target {money(target.price)}{_order_state(target)}" if target is not None
                         else f"target {money(p.target)} pts")
        parts.append(_stop(stop) if stop is not None else f"stop {money(p.stoploss)} pts")
    elif p.kind == "trailing":
        stop = p.order(p.stop_id)
        if stop is not None:
            parts.append(_stop(stop))
    elif p.kind == "iceberg":
        filled = sum(o.filled_quantity for o in p.orders)
        working = p.orders[-1] if p.orders else None
        price = money(p.price) if p.price is not None else "MKT"
        parts.append(f"{p.order_type} {price} leg {p.legs_sent}/{p.legs}{_order_state(working)} · "
                     f"filled {filled:,}/{p.quantity:,}")
    if p.trail is not None or p.trail_percent is not None:
        trail = f"{money(p.trail)} pts" if p.trail is not None else f"{p.trail_percent}%"
        parts.append(f"trail {trail} best {money(p.best)}")
    if p.kind in ("bracket", "cover"):  # the entry on the first line, its exits under it
        return head + escape(parts[0]) + "\n" + INDENT + escape(" · ".join(parts[1:]))
    return head + escape(" · ".join(parts))
