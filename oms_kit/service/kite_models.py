"""The OMS's values in Kite Connect's shapes: orders, an order's history, trades, positions, holdings, margins, the
profile, instrument tokens and the instrument list.

Kite's JSON has numbers as numbers (prices as floats, a missing price as 0) and times as ``"YYYY-MM-DD HH:MM:SS"``
in India's time (IST), which the official client turns back into datetimes. The field names and statuses are
Kite's: a FILLED order is ``COMPLETE``, a partly filled one ``OPEN`` with ``filled_quantity`` above 0, an expired one
``CANCELLED`` (as Kite shows a DAY order cancelled at the close or an IOC remainder), a rejected one ``REJECTED``
with its reasons in ``status_message``.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from oms_kit.models import Order, OrderStatus, Product
from oms_kit.tradable import Instrument

IST = ZoneInfo("Asia/Kolkata")
EXCHANGE = "NSE"
_ZERO = Decimal(0)

KITE_STATUS = {
    OrderStatus.NEW: "PUT ORDER REQ RECEIVED",  # placed, its records not yet committed
    OrderStatus.PENDING_SUBMIT: "OPEN PENDING",  # sent, not yet acknowledged by the exchange
    OrderStatus.TRIGGER_PENDING: "TRIGGER PENDING",
    OrderStatus.OPEN: "OPEN",
    OrderStatus.PARTIALLY_FILLED: "OPEN",  # Kite: OPEN with filled_quantity > 0
    OrderStatus.PENDING_MODIFY: "MODIFY PENDING",
    OrderStatus.PENDING_CANCEL: "CANCEL PENDING",
    OrderStatus.FILLED: "COMPLETE",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.REJECTED: "REJECTED",
    OrderStatus.EXPIRED: "CANCELLED",  # Kite cancels a DAY order at the close and an IOC order's remainder
}
# Statuses in which the order never reached the exchange: no exchange order id, no exchange time.
_NOT_AT_EXCHANGE = frozenset({OrderStatus.NEW, OrderStatus.PENDING_SUBMIT, OrderStatus.REJECTED})
_STILL_PENDING = frozenset({OrderStatus.NEW, OrderStatus.PENDING_SUBMIT})
_ENDED_UNFILLED = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED})


def kite_time(ts: datetime | None) -> str | None:
    """A time as Kite writes it: ``"2026-12-04 09:15:00"`` in IST (a naive time is taken as UTC)."""
    if ts is None or ts != ts:  # NaT equals nothing
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def num(value: Decimal | float | int | None) -> float:
    """A price or amount as Kite's JSON number; a missing one is 0, as Kite sends it."""
    if value is None or value != value:  # None, NaN
        return 0.0
    return float(value)


# -- instruments ------------------------------------------------------------------------------------------------------

_TOKEN_SPACE = 2**22 - 1  # exchange tokens 1 .. 2**22 - 1: an instrument token stays below 2**30
_NSE_SEGMENT = 1  # Kite's instrument token is the exchange token shifted by 8 bits, with the segment's number


@dataclass(frozen=True)
class Universe:
    """The NSE instruments of an OMS with Kite's numbers: ``exchange_token`` (stable for a symbol: derived from its
    name) and ``instrument_token``, both ways."""

    instruments: Mapping[str, Instrument]
    exchange_tokens: Mapping[str, int]
    by_token: Mapping[int, str]

    def token(self, symbol: str) -> int:
        """The instrument token of ``symbol`` (0 for a symbol that is not an NSE instrument of the OMS)."""
        exchange_token = self.exchange_tokens.get(symbol)
        return 0 if exchange_token is None else exchange_token << 8 | _NSE_SEGMENT


def universe(instruments: Mapping[str, Instrument]) -> Universe:
    """The NSE instruments among ``instruments``, with their tokens."""
    nse = {s: i for s, i in instruments.items() if i.exchange == EXCHANGE}
    tokens = _exchange_tokens(tuple(sorted(nse)))
    return Universe(nse, tokens, {t << 8 | _NSE_SEGMENT: s for s, t in tokens.items()})


@lru_cache(maxsize=8)
def _exchange_tokens(symbols: tuple[str, ...]) -> dict[str, int]:
    # A checksum of the name, so a symbol keeps its token across restarts; a rare clash moves the later symbol (in
    # name order) to the next free number.
    taken: set[int] = set()
    tokens: dict[str, int] = {}
    for symbol in symbols:
        token = zlib.crc32(symbol.encode("utf-8", "surrogatepass")) % _TOKEN_SPACE + 1
        while token in taken:
            token = token % _TOKEN_SPACE + 1
        taken.add(token)
        tokens[symbol] = token
    return tokens


INSTRUMENT_COLUMNS = ("instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
                      "tick_size", "lot_size", "instrument_type", "segment", "exchange")


def instruments_csv(world: Universe, prices: Mapping[str, Decimal]) -> str:
    """The instrument list as Kite's CSV (equities: no expiry, strike 0, type EQ)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INSTRUMENT_COLUMNS)
    for symbol in sorted(world.instruments):
        instrument = world.instruments[symbol]
        writer.writerow([world.token(symbol), world.exchange_tokens[symbol], symbol, instrument.name,
                         num(prices.get(symbol)), "", 0.0, num(instrument.tick_size), instrument.lot_size, "EQ",
                         EXCHANGE, EXCHANGE])
    return out.getvalue()


# -- orders -----------------------------------------------------------------------------------------------------------


def order_json(order: Order, token: int) -> dict[str, Any]:
    """An order as Kite's order book shows it."""
    status = order.status
    at_exchange = status not in _NOT_AT_EXCHANGE
    remaining = order.quantity - order.filled_quantity
    tags = [order.tag] if order.tag else []
    return {
        "placed_by": order.account, "order_id": order.order_id,
        "exchange_order_id": order.order_id if at_exchange else None,  # the simulated exchange has no ids of its own
        "parent_order_id": None, "status": KITE_STATUS[status], "status_message": _status_message(order),
        "status_message_raw": _status_raw(order), "order_timestamp": kite_time(order.created_at),
        "exchange_update_timestamp": kite_time(order.updated_at) if at_exchange else None,
        "exchange_timestamp": kite_time(order.created_at) if at_exchange else None,
        "variety": order.variety.value, "exchange": EXCHANGE, "tradingsymbol": order.symbol, "instrument_token": token,
        "order_type": order.order_type.value, "transaction_type": order.side.value,
        "validity": order.validity.value, "product": order.product.value, "quantity": order.quantity,
        "disclosed_quantity": order.disclosed_quantity, "price": num(order.price),
        "trigger_price": num(order.trigger_price), "average_price": num(order.average_price),
        "filled_quantity": order.filled_quantity,
        "pending_quantity": remaining if order.is_working or status in _STILL_PENDING else 0,
        "cancelled_quantity": remaining if status in _ENDED_UNFILLED else 0,
        "market_protection": 0, "meta": {}, "tag": order.tag, "tags": tags, "guid": order.client_order_id,
    }


def _status_message(order: Order) -> str | None:
    return order.reason if order.status in (OrderStatus.REJECTED, *_ENDED_UNFILLED) else None


def _status_raw(order: Order) -> str | None:
    if order.violations:
        return ", ".join(v.code for v in order.violations)
    return _status_message(order)


def history_json(order: Order, events: Sequence[Mapping[str, Any]], token: int) -> list[dict[str, Any]]:
    """Each state the order went through (its stored events, oldest first) as Kite's order history shows it.

    Every entry has the values the order had in that state: quantity, price, trigger price and disclosed quantity as
    placed until a modify's MODIFIED event and as modified from there on (a MODIFY PENDING entry still shows the
    values it would replace; a refused modify changes nothing), and the filled, pending and cancelled quantities and
    the average price of the fills so far. The values an order was placed with are read from the trail (see
    :func:`_placed_values`); the order as it is now gives only its unchanging fields.
    """
    if not events:
        return [order_json(order, token) | {"modified": False}]
    trail = [(e.get("event_type"), _detail(e.get("detail"))) for e in events]
    values = _placed_values(order, trail)
    entries = []
    filled, filled_value = 0, _ZERO
    accepted_at: datetime | None = None
    modified = False
    for event, (kind, detail) in zip(events, trail, strict=True):
        ts = event.get("ts")
        try:
            status = OrderStatus(cast(str, event.get("to_status")))  # None: ValueError, skipped
        except ValueError:
            continue
        if kind == "ACCEPTED" and accepted_at is None:
            accepted_at = ts
        if kind in _FILL_EVENTS:
            quantity, price = detail.get("quantity"), _decimal(detail.get("price"))
            if isinstance(quantity, int) and price is not None:
                filled += quantity
                filled_value += price * quantity
        elif kind == "MODIFIED":
            modified = True
            _update(values, _changes(detail))
        remaining = max(values["quantity"] - filled, 0)
        reason = detail.get("reason")
        message = reason if isinstance(reason, str) else None
        entries.append(order_json(order, token) | {
            "status": KITE_STATUS[status], "status_message": message, "status_message_raw": message,
            "order_timestamp": kite_time(ts),
            "exchange_order_id": order.order_id if accepted_at is not None else None,
            "exchange_timestamp": kite_time(accepted_at),
            "exchange_update_timestamp": kite_time(ts) if accepted_at is not None else None,
            "quantity": values["quantity"], "disclosed_quantity": values["disclosed_quantity"],
            "price": num(values["price"]), "trigger_price": num(values["trigger_price"]),
            "filled_quantity": filled, "average_price": float(filled_value / filled) if filled else 0.0,
            "pending_quantity": remaining if status.is_working or status in _STILL_PENDING else 0,
            "cancelled_quantity": remaining if status in _ENDED_UNFILLED else 0,
            "modified": modified,
        })
    return entries or [order_json(order, token) | {"modified": modified}]


_MODIFIABLE_VALUES = ("quantity", "price", "trigger_price", "disclosed_quantity")
_WHOLE_VALUES = frozenset({"quantity", "disclosed_quantity"})
_FILL_EVENTS = frozenset({"PARTIALLY_FILLED", "FILLED"})


def _placed_values(order: Order, trail: Sequence[tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    # The quantity, price, trigger price and disclosed quantity the order was placed with. The orders table holds
    # only the latest ones; a MODIFY_REQUESTED event keeps the values its modify would replace ("previous"), so a
    # field's first such value is the placed one, and a field no modify touched has the order's own value. An event
    # stored before "previous" was kept says only what its modify set: the earliest value set then stands for the
    # placed one.
    values = {name: getattr(order, name) for name in _MODIFIABLE_VALUES}
    known: set[str] = set()
    for kind, detail in trail:
        if kind == "MODIFY_REQUESTED":
            given = detail.get("previous")
        elif kind == "MODIFIED":
            given = _changes(detail)
        else:
            continue
        if isinstance(given, dict):
            _update(values, {k: v for k, v in given.items() if k not in known})
            known.update(given)
    return values


def _update(values: dict[str, Any], changes: Mapping[str, Any]) -> None:
    # Only the modifiable fields, and only values that read as what they stand for.
    for name, value in changes.items():
        if name in values and (parsed := _parsed(name, value)) is not None:
            values[name] = parsed


def _changes(detail: Mapping[str, Any]) -> dict[str, Any]:
    changes = detail.get("changes")
    return changes if isinstance(changes, dict) else {}


def _detail(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        detail = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _parsed(name: str, value: Any) -> Any:
    if name in _WHOLE_VALUES:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return _decimal(value)


def trade_json(trade: Mapping[str, Any], token: int) -> dict[str, Any]:
    """A fill (a row of ``OMS.trades()``) as Kite's trade book shows it."""
    ts = trade["ts"]
    fill_time = kite_time(ts)
    return {
        "trade_id": trade["trade_id"], "order_id": trade["order_id"], "exchange": EXCHANGE,
        "tradingsymbol": trade["symbol"], "instrument_token": token, "product": trade["product"],
        "average_price": num(trade["price"]), "quantity": int(trade["quantity"]),
        "exchange_order_id": trade["order_id"], "transaction_type": trade["side"], "fill_timestamp": fill_time,
        "order_timestamp": fill_time[11:] if fill_time else None,  # Kite's trade book: the time of day only
        "exchange_timestamp": fill_time,
    }


# -- positions, holdings, margins -------------------------------------------------------------------------------------


@dataclass
class _DayFills:
    buy_quantity: int = 0
    buy_value: Decimal = _ZERO
    sell_quantity: int = 0
    sell_value: Decimal = _ZERO

    @property
    def net(self) -> int:
        return self.buy_quantity - self.sell_quantity


def day_fills(trades: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], _DayFills]:
    """Today's bought and sold quantities and values per (symbol, product)."""
    days: dict[tuple[str, str], _DayFills] = {}
    for trade in trades:
        day = days.setdefault((trade["symbol"], trade["product"]), _DayFills())
        quantity, value = int(trade["quantity"]), Decimal(trade["price"]) * int(trade["quantity"])
        if trade["side"] == "BUY":
            day.buy_quantity += quantity
            day.buy_value += value
        else:
            day.sell_quantity += quantity
            day.sell_value += value
    return days


def positions_json(positions: Iterable[Mapping[str, Any]], days: Mapping[tuple[str, str], _DayFills],
                   world: Universe, closes: Mapping[str, Decimal]) -> dict[str, list[dict[str, Any]]]:
    """Kite's ``net`` positions (open ones and those traded today) and ``day`` positions (today's fills alone).

    The quantity carried from earlier days (``overnight_quantity``) enters the net position's buy or sell figures
    at the position's average price, where Kite takes the previous close: exact unless today's fills moved the
    average. ``pnl`` is ``value + quantity * last_price`` (before charges) and ``m2m`` the same, as no previous
    close is known.
    """
    net, day = [], []
    for p in positions:
        key = (p["symbol"], p["product"])
        fills = days.get(key, _DayFills())
        quantity = int(p["quantity"])
        if not quantity and key not in days:
            continue  # flat since before today: Kite's positions are the day's
        average = Decimal(p["average_price"] or 0)
        last = p["last_price"] if p["last_price"] is not None else average
        overnight = quantity - fills.net
        carried = _DayFills(max(overnight, 0), max(overnight, 0) * average, max(-overnight, 0),
                            max(-overnight, 0) * average)
        net.append(_position(p["symbol"], p["product"], quantity, overnight, average, Decimal(last), fills, carried,
                             world, closes))
        if key in days:
            today_average = (fills.buy_value / fills.buy_quantity if fills.net > 0 else
                             fills.sell_value / fills.sell_quantity if fills.net < 0 else _ZERO)
            day.append(_position(p["symbol"], p["product"], fills.net, 0, today_average, Decimal(last), fills,
                                 _DayFills(), world, closes))
    return {"net": net, "day": day}


def _position(symbol: str, product: str, quantity: int, overnight: int, average: Decimal, last: Decimal,
              fills: _DayFills, carried: _DayFills, world: Universe, closes: Mapping[str, Decimal]) -> dict[str, Any]:
    buy_quantity = fills.buy_quantity + carried.buy_quantity
    sell_quantity = fills.sell_quantity + carried.sell_quantity
    buy_value = fills.buy_value + carried.buy_value
    sell_value = fills.sell_value + carried.sell_value
    value = sell_value - buy_value
    pnl = value + quantity * last
    unrealised = quantity * (last - average)
    return {
        "tradingsymbol": symbol, "exchange": EXCHANGE, "instrument_token": world.token(symbol), "product": product,
        "quantity": quantity, "overnight_quantity": overnight, "multiplier": 1, "average_price": num(average),
        "close_price": num(closes.get(symbol)), "last_price": num(last), "value": num(value), "pnl": num(pnl),
        "m2m": num(pnl), "unrealised": num(unrealised), "realised": num(pnl - unrealised),
        "buy_quantity": buy_quantity, "buy_price": num(buy_value / buy_quantity if buy_quantity else _ZERO),
        "buy_value": num(buy_value), "buy_m2m": num(buy_value), "sell_quantity": sell_quantity,
        "sell_price": num(sell_value / sell_quantity if sell_quantity else _ZERO), "sell_value": num(sell_value),
        "sell_m2m": num(sell_value), "day_buy_quantity": fills.buy_quantity,
        "day_buy_price": num(fills.buy_value / fills.buy_quantity if fills.buy_quantity else _ZERO),
        "day_buy_value": num(fills.buy_value), "day_sell_quantity": fills.sell_quantity,
        "day_sell_price": num(fills.sell_value / fills.sell_quantity if fills.sell_quantity else _ZERO),
        "day_sell_value": num(fills.sell_value),
    }


def holdings_json(net: Iterable[Mapping[str, Any]], closes: Mapping[str, Decimal]) -> list[dict[str, Any]]:
    """Kite's holdings: the CNC (delivery) quantity carried from earlier days, from the ``net`` positions."""
    holdings = []
    for p in net:
        carried = p["overnight_quantity"]
        if p["product"] != Product.CNC.value or carried <= 0:
            continue
        average, last = p["average_price"], p["last_price"]
        close = num(closes.get(p["tradingsymbol"]))
        change = last - close if close else 0.0
        holdings.append({
            "tradingsymbol": p["tradingsymbol"], "exchange": EXCHANGE, "instrument_token": p["instrument_token"],
            "isin": "", "product": Product.CNC.value, "price": 0.0, "quantity": carried,
            "used_quantity": min(carried, p["day_sell_quantity"]), "t1_quantity": 0, "realised_quantity": carried,
            "authorised_quantity": 0, "authorised_date": None, "opening_quantity": carried, "short_quantity": 0,
            "collateral_quantity": 0, "collateral_type": "", "discrepancy": False, "average_price": average,
            "last_price": last, "close_price": close, "pnl": (last - average) * carried, "day_change": change,
            "day_change_percentage": change / close * 100 if close else 0.0,
        })
    return holdings


@dataclass(frozen=True)
class Funds:
    """What the margin check sees: equity (cash plus the value of positions), the margin blocked by positions and
    working orders, the part of it delivery (CNC) positions block, and the day's realized and unrealized P&L."""

    equity: Decimal
    blocked: Decimal
    delivery: Decimal
    realized: Decimal
    unrealized: Decimal
    span: Decimal = _ZERO  # the F&O positions' and working orders' margin (SPAN-style, with exposure)
    option_premium: Decimal = _ZERO  # long options held and option buys working: paid in full


def margins_json(funds: Funds | None) -> dict[str, Any]:
    """One segment of Kite's margins: ``net`` is what is free for new orders (equity less the margin blocked).
    ``available.cash`` is the equity: Kite leaves cash alone until settlement and counts a purchase's value as a
    debit. ``funds`` None: a segment the kit does not trade (all zero, not enabled)."""
    f = funds or Funds(_ZERO, _ZERO, _ZERO, _ZERO, _ZERO)
    net = f.equity - f.blocked
    return {
        "enabled": funds is not None, "net": num(net),
        "available": {"adhoc_margin": 0.0, "cash": num(f.equity), "opening_balance": num(f.equity),
                      "live_balance": num(net), "collateral": 0.0, "intraday_payin": 0.0},
        "utilised": {"debits": num(f.blocked), "exposure": num(f.blocked - f.delivery - f.span - f.option_premium),
                     "m2m_realised": num(f.realized), "m2m_unrealised": num(f.unrealized),
                     "option_premium": num(f.option_premium), "payout": 0.0, "span": num(f.span),
                     "holding_sales": 0.0, "turnover": 0.0, "liquid_collateral": 0.0, "stock_collateral": 0.0,
                     "delivery": num(f.delivery)},
    }


def profile_json(account: str) -> dict[str, Any]:
    """Kite's user profile of the served account."""
    return {"user_id": account, "user_name": account, "user_shortname": account, "email": "",
            "user_type": "individual", "broker": "OMS_KIT", "exchanges": [EXCHANGE],
            "products": [p.value for p in Product], "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None, "meta": {"demat_consent": ""}}
