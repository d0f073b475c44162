"""Risk: the free cash and the margin in use (F&O per underlying), each limit's use as a bar, the alerts, the KILL
SWITCH, square-off, and a reset that asks twice."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from html import escape
from typing import Any

import ipywidgets as w

from oms_kit.models import Order
from oms_kit.snapshot import AccountView, AlertView, LimitView, MarginView, account_view, alert_views, limit_views
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, button, classed, row_count
from oms_kit.widgets.format import clock_time, money

BAR_COLOURS = {"WARN": "var(--oms-warn)", "BREACH": "var(--oms-down)"}
KILL_REASON = "KILL SWITCH pressed in the dashboard"


@dataclass(frozen=True, slots=True)
class LimitRow:
    """One limit's line in the panel: its name and symbol ("" for an account-wide limit), the use in percent,
    the level shown (OK, WARN or BREACH) and the text beside the bar ("4 / 5")."""

    limit: str
    symbol: str
    pct: float
    level: str
    text: str


class RiskPanel(Panel):
    """The free cash and the margin that holds the rest (equity blocks, the F&O portfolio margin with a line per
    underlying: SPAN, exposure, total), limits in use (bars turn amber at 80 %, red at 100 %), recent alerts and the
    trading controls.

    Controls: KILL SWITCH (one click: HALTED, every working order cancelled), Square off (cancel and close every
    position, after a confirmation) and Reset (needs a reason and a confirmation; refused while the daily loss is
    still in breach, and the panel says why). Their twins: ``kill()``, ``square_off()``, ``reset(reason)``.
    A read-only OMS shows no controls.
    """

    kinds = ("risk_alert", "trading_state", "position", "price", "order")
    title_text = "Risk"
    css_class = "oms-risk"

    def __init__(self, oms: OmsLike, *, max_limits: int = 20, max_alerts: int = 8, interval: float = DEFAULT_INTERVAL,
                 every: float | None = None) -> None:
        self.max_limits = row_count("max_limits", max_limits)
        self.max_alerts = row_count("max_alerts", max_alerts)
        super().__init__(oms, interval=interval, every=every)

    def _build(self) -> list[w.Widget]:
        self.account: AccountView | None = None  # the account's figures last shown
        self.limit_rows: tuple[LimitRow, ...] = ()  # the limits last shown, most used first
        self.state = classed(w.HTML(), "oms-risk-state")
        self.margin = classed(w.HTML(), "oms-margin")
        self.limits = classed(w.HTML(), "oms-limits")
        self.alerts = classed(w.HTML(), "oms-alerts")

        self.kill_button = button("■ KILL SWITCH", "oms-kill", "danger", width="100%",
                                  tooltip="halt trading now and cancel every working order")
        self.kill_button.layout.height = "44px"
        self.kill_button.on_click(self.handler("kill switch", lambda: self.kill()))
        self.square_off_button = button("⏏ Square off all…", "oms-square-off", "warning",
                                        tooltip="cancel working orders and close every position at market")
        self.square_off_confirm = button("Confirm square off", "oms-square-off-confirm", "danger")
        self.square_off_abort = button("Keep positions", "oms-square-off-abort")
        self.square_off_ask = w.HBox([self.square_off_confirm, self.square_off_abort],
                                     layout=w.Layout(display="none"))
        self.square_off_button.on_click(self.handler("square off", lambda: self._ask(self.square_off_ask, True)))
        self.square_off_confirm.on_click(self.handler("square off", lambda: self.square_off()))
        self.square_off_abort.on_click(self.handler("square off", lambda: self._ask(self.square_off_ask, False)))

        self.reset_reason = classed(w.Text(placeholder="reason to resume trading", layout=w.Layout(width="220px")),
                                    "oms-reset-reason")
        self.reset_button = button("Reset kill switch…", "oms-reset", "info")
        self.reset_confirm = button("Confirm: resume trading", "oms-reset-confirm", "success")
        self.reset_abort = button("Stay halted", "oms-reset-abort")
        self.reset_ask = w.HBox([self.reset_confirm, self.reset_abort], layout=w.Layout(display="none"))
        self.reset_button.on_click(self.handler("reset", lambda: self._ask_reset()))
        self.reset_confirm.on_click(self.handler("reset", lambda: self.reset(self.reset_reason.value)))
        self.reset_abort.on_click(self.handler("reset", lambda: self._ask(self.reset_ask, False)))

        controls = classed(w.VBox([
            self.kill_button,
            w.HBox([self.square_off_button, self.square_off_ask]),
            w.HBox([self.reset_reason, self.reset_button]),
            self.reset_ask,
        ]), "oms-risk-controls")
        if self.read_only:
            controls.layout.display = "none"
        return [self.state, controls, self.margin, self.limits, self.alerts]

    def refresh(self) -> None:
        account = self.account = account_view(self.oms)
        state = account.trading_state
        colour = {"ACTIVE": "oms-up", "HALTED": "oms-down"}.get(state, "")
        self.state.value = (f"trading <b class='{colour}'>{state}</b> · exposure {money(account.gross_exposure)}"
                            f" · cash {money(account.cash)}")
        self.reset_button.disabled = state == "ACTIVE"
        self.margin.value = _margin_html(account)
        self._show_limits(limit_views(self.oms))
        alerts = alert_views(self.oms)[-self.max_alerts:][::-1]
        self.alerts.value = "".join(_alert_html(a) for a in alerts) or "<span class='oms-muted'>no alerts</span>"

    def _show_limits(self, limits: tuple[LimitView, ...]) -> None:
        # One HTML table of bars, not a progress widget per limit: a redraw is one message however many limits
        # are in use, and the most used per-symbol limits may change places at every price.
        rows = tuple(LimitRow(u.limit, u.symbol or "", u.use_pct, u.level if u.level in BAR_COLOURS else "OK",
                              f"{money(u.value, 0)} / {money(u.maximum, 0)}") for u in limits[: self.max_limits])
        self.limit_rows = rows
        if not rows:
            self.limits.value = "<span class='oms-muted'>no limit in use</span>"
            return
        self.limits.value = "<table class='oms-table oms-limits-table'>" + "".join(_limit_html(r) for r in rows) + \
            "</table>"

    # -- controls ---------------------------------------------------------------------------------------------

    def kill(self, reason: str = KILL_REASON) -> asyncio.Task[Any] | None:
        """Halt trading at once and cancel every working order (the KILL SWITCH button)."""
        return self._act("kill switch", lambda oms: oms.kill_switch(reason),
                         then=lambda _: self.say("HALTED: trading stopped, working orders cancelled", "ok"))

    def square_off(self) -> asyncio.Task[Any] | None:
        """Cancel working orders and close every position at market (the confirmed Square off)."""
        self._ask(self.square_off_ask, False)

        def done(orders: list[Order]) -> None:
            self.say(f"square off: {len(orders)} closing order{'s' if len(orders) != 1 else ''} placed", "ok")

        return self._act("square off", lambda oms: oms.square_off(), then=done)

    def reset(self, reason: str) -> asyncio.Task[Any] | None:
        """Lift the kill switch with ``reason`` (the confirmed Reset); refused while the daily loss is in breach."""
        self._ask(self.reset_ask, False)
        if not reason or not reason.strip():
            self.say("reset needs a reason: type why trading may resume", "error")
            return None

        def done(_: None) -> None:
            self.reset_reason.value = ""
            self.say("trading resumed: ACTIVE", "ok")

        why = reason.strip()
        return self._act("reset", lambda oms: oms.reset_kill_switch(why), then=done)

    def _ask_reset(self) -> None:
        if not self.reset_reason.value.strip():
            self.say("reset needs a reason: type why trading may resume", "error")
            return
        self._ask(self.reset_ask, True)

    def _ask(self, box: w.Box, show: bool) -> None:
        box.layout.display = None if show else "none"


def _margin_html(account: AccountView) -> str:
    # The free cash and what holds the rest; one line per F&O underlying when the account has any.
    used = account.equity_margin + account.fno_margin + account.option_premium
    text = (f"<div class='oms-margin-used'>free cash <b>{money(account.available_funds)}</b> · margin used "
            f"{money(used)} (equity {money(account.equity_margin)} · F&amp;O {money(account.fno_margin)}")
    if account.option_premium:
        text += f" · option premium {money(account.option_premium)}"
    text += ")</div>"
    if account.margins:
        text += ("<table class='oms-table oms-margin-table'><tr><th class='l'>underlying</th><th>price</th>"
                 "<th>SPAN</th><th>exposure</th><th>total</th></tr>" + "".join(_margin_row(m) for m in account.margins)
                 + "</table>")
    return text


def _margin_row(view: MarginView) -> str:
    return (f"<tr class='oms-margin-row'><td class='l'>{escape(view.underlying)}</td><td>{money(view.price)}</td>"
            f"<td>{money(view.span)}</td><td>{money(view.exposure)}</td><td><b>{money(view.total)}</b></td></tr>")


def _limit_html(row: LimitRow) -> str:
    width = min(max(row.pct, 0.0), 100.0)
    colour = BAR_COLOURS.get(row.level, "var(--oms-up)")
    name = escape(f"{row.limit} {row.symbol}".strip())
    return (f"<tr class='oms-limit oms-level-{row.level}'><td class='l'>{name}</td>"
            f"<td class='l' style='width:30%'><div class='oms-bar'><div class='oms-limit-bar' "
            f"style='width:{width:.1f}%;background:{colour}'></div></div></td>"
            f"<td>{escape(row.text)} <b>({row.pct:.0f} %)</b></td></tr>")


def _alert_html(alert: AlertView) -> str:
    level = alert.level
    colour = "oms-down" if level == "BREACH" else "oms-muted" if level != "WARN" else ""
    style = "" if colour else " style='color:var(--oms-warn)'"
    return (f"<div class='oms-alert oms-alert-{escape(level)}'><span class='oms-muted'>"
            f"{clock_time(alert.ts)}</span> <b class='{colour}'{style}>{escape(level)}</b> "
            f"{escape(alert.message)}</div>")
