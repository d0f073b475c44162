"""Numbers and tables as the panels show them: money with thousands separators, signed P&L coloured by sign."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape

DASH = "—"
Number = Decimal | float | int


def money(value: Number | None, places: int = 2) -> str:
    """``1234.5`` as ``1,234.50``; None as a dash."""
    if value is None:
        return DASH
    return f"{float(value):,.{places}f}"


def signed(value: Number | None, places: int = 2) -> str:
    """``1234.5`` as ``+1,234.50``; None as a dash."""
    if value is None:
        return DASH
    return f"{float(value):+,.{places}f}"


def sign_class(value: Number | None) -> str:
    """CSS class for a P&L figure: green above zero, red below, plain at zero or None."""
    if value is None or value == 0:
        return ""
    return "oms-up" if value > 0 else "oms-down"


def pnl_html(value: Number | None, places: int = 2, suffix: str = "") -> str:
    """A signed figure in a span coloured by its sign."""
    if value is None:
        return f"<span class=''>{DASH}</span>"
    return f"<span class='{sign_class(value)}'>{signed(value, places)}{suffix}</span>"


def clock_time(ts: datetime | None) -> str:
    """A timestamp as HH:MM:SS in the kernel's local time zone."""
    if ts is None:
        return DASH
    return ts.astimezone().strftime("%H:%M:%S")


def cell(value: str | Number | datetime | None) -> str:
    """A read model's value as a table cell: money for Decimal and float, the clock for datetime, escaped text."""
    if value is None:
        return DASH
    if isinstance(value, Decimal | float):
        return money(value)
    if isinstance(value, datetime):
        return clock_time(value)
    return escape(str(value))


def table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]], *, css_class: str = "",
          total: Sequence[str] | None = None, empty: str = "nothing yet") -> str:
    """An HTML table. ``columns`` are (heading, align) with align "l" or "r"; cells are already HTML."""
    head = "".join(f"<th class='{a}'>{escape(h)}</th>" for h, a in columns)
    aligns = [a for _, a in columns]
    body = "".join("<tr>" + "".join(f"<td class='{a}'>{c}</td>" for a, c in zip(aligns, r, strict=True)) + "</tr>"
                   for r in rows)
    if not body:
        body = f"<tr><td class='l oms-muted' colspan='{len(columns)}'>{escape(empty)}</td></tr>"
    if total is not None:
        body += "<tr class='oms-total'>" + "".join(
            f"<td class='{a}'>{c}</td>" for a, c in zip(aligns, total, strict=True)) + "</tr>"
    return f"<table class='oms-table {css_class}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
