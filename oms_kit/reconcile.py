"""Reconciliation: the live broker's orders, trades and positions set against the OMS's, on open and after the
broker's connection comes back.

What matches is adopted: the broker applies its books to the orders it follows (:meth:`KiteBroker.apply_book`), so
an order that filled while the kernel was down arrives as fills at the exchange's times; an order left NEW by a
restart (placed, not acknowledged) is found by its tag and taken as it stands there, or rejected when the broker
never had it. What differs is listed (:attr:`Reconciliation.differences`, one row each, ``kind``):

* ``unknown_order``: at the broker, working or with fills, without this OMS's tag (placed in the Kite app, by
  another program, the broker's own square-off);
* ``missing_order``: working in the OMS, not in the broker's book;
* ``order_status``: ended in the OMS, still working at the broker; ``order_values``: working in both, with another
  quantity, price or trigger at the broker;
* ``position``: another net quantity, by symbol and product (the broker's net positions, and its holdings for CNC);
* ``fill_not_applied``: a trade the OMS could not book (``KiteBroker.mismatches``);
* ``unreadable``: an entry of the broker's books that cannot be read: nothing is concluded from it.

A difference halts trading (source ``reconciliation``, stored, so a reopened OMS is still halted) and raises a
BREACH alert named ``reconciliation``; :class:`~oms_kit.reconciler.Reconciler` (the OMS's side) refuses new orders
with :class:`ReconciliationPending` until the user accepts (``OMS.accept_reconciliation``: the broker's side
adopted into the OMS) or resolves the difference at the broker and reconciles again (``OMS.reconcile``), which
resumes trading when nothing differs.
Reading the broker's books never raises anything but OmsError, whatever they hold (:func:`compare`).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, runtime_checkable

import pandas as pd

from oms_kit.broker.kite_config import ADOPTED_PREFIX
from oms_kit.broker.kite_status import Stage, kite_time, plausible, stage, trade_price
from oms_kit.errors import OmsError
from oms_kit.fsm import OrderEvent, OrderEventType
from oms_kit.models import Order, OrderStatus, OrderType, Product, Side, Validity
from oms_kit.orders import OrderManager
from oms_kit.parsing import MAX_PRICE, MAX_QUANTITY
from oms_kit.tradable import Instrument

SOURCE = "reconciliation"  # the trading state's source while halted for it
DIFFERENCE_COLUMNS = ["kind", "symbol", "product", "order_id", "broker_order_id", "oms", "broker", "meaning"]
ADOPTED_COLUMNS = ["kind", "order_id", "broker_order_id", "symbol", "product", "quantity", "price", "ts", "detail"]


def differences_frame(rows: list[Any]) -> pd.DataFrame:
    """The differences as a DataFrame of :data:`DIFFERENCE_COLUMNS`, each side's values as they are: a column of
    quantities beside None (or beside statuses) would otherwise turn into floats or NaN."""
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS, dtype=object)
_LIVE = frozenset({Stage.WORKING, Stage.PENDING})
_MODIFIABLE = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.TRIGGER_PENDING})


@runtime_checkable
class Reconciling(Protocol):
    """What a live broker offers the reconciliation (:class:`~oms_kit.broker.kite.KiteBroker` does)."""

    mismatches: list[dict[str, Any]]
    on_reconnect: Callable[[], Awaitable[None]] | None

    async def books(self) -> dict[str, Any]: ...
    def apply_book(self, orders: list[dict[str, Any]], trades: list[dict[str, Any]]) -> None: ...
    def tag(self, order: Order) -> str: ...
    @property
    def broker_ids(self) -> dict[str, str]: ...
    @property
    def restored(self) -> frozenset[str]: ...
    def adopt(self, order: Order, instrument: Instrument, broker_id: str) -> None: ...
    def release(self, order_id: str) -> None: ...


@dataclass(frozen=True)
class Reconciliation:
    """One reconciliation: when, why (``open``, ``reconnect``, ``user``, ``accept``), what differs and what was
    adopted (fills at the exchange's times, statuses, orders taken over, position adjustments)."""

    ts: datetime
    trigger: str
    differences: pd.DataFrame
    adopted: pd.DataFrame

    @property
    def ok(self) -> bool:
        """Whether the broker's books and the OMS's agree (nothing listed)."""
        return self.differences.empty

    def __repr__(self) -> str:
        kinds = self.differences["kind"].value_counts().to_dict() if not self.ok else {}
        return (f"<Reconciliation {self.trigger} {self.ts:%H:%M:%S} "
                f"{'ok' if self.ok else f'differences={kinds}'} adopted={len(self.adopted)}>")


class _Entry(NamedTuple):
    # One order of the broker's book, read.
    broker_id: str
    tag: str | None
    status: str
    stage: Stage
    symbol: str | None
    product: str | None
    side: str | None
    quantity: int
    filled: int
    raw: dict[str, Any]


# -- reading the broker's books --------------------------------------------------------------------------------------


def _text(value: object, limit: int = 64) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value.strip()
        if 0 < len(value) <= limit and value.isprintable():
            return value
    return None


def _count(value: object, default: int | None = None) -> int | None:
    # A quantity within the store's bounds; None for anything else (a missing one is ``default``).
    if value is None:
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None
    return value if isinstance(value, int) and abs(value) <= MAX_QUANTITY else None


def _price(value: object) -> Decimal | None:
    price = trade_price(value) if value is not None and not isinstance(value, bool) else None
    return price if price is not None and price <= MAX_PRICE else None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _listed(books: object, name: str, differences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The dicts of one of the books; anything else in it (or a book that is no list) is listed as unreadable.
    book = books.get(name) if isinstance(books, Mapping) else None
    if book is None:
        book = []
    if not isinstance(book, list):
        differences.append(_difference("unreadable", broker=_shown(book), meaning=f"the broker's {name} are no list"))
        return []
    for item in book:
        if not isinstance(item, dict):
            differences.append(_difference("unreadable", broker=_shown(item),
                                           meaning=f"an entry of the broker's {name} that is no record"))
    return [item for item in book if isinstance(item, dict)]


def _entry(raw: dict[str, Any]) -> _Entry | None:
    broker_id, quantity = _text(raw.get("order_id")), _count(raw.get("quantity"))
    filled = _count(raw.get("filled_quantity"), 0)
    if broker_id is None or quantity is None or filled is None or quantity < 0 or filled < 0:
        return None
    tag, status = raw.get("tag"), raw.get("status")
    text = status.strip().upper() if isinstance(status, str) else ""
    product, side = _text(raw.get("product")), _text(raw.get("transaction_type"))
    return _Entry(broker_id, tag if isinstance(tag, str) else None, text[:40], stage(status),
                  _text(raw.get("tradingsymbol")), product.upper() if product else None,
                  side.upper() if side else None, quantity, filled, raw)


def _difference(kind: str, symbol: str | None = None, product: str | None = None, order_id: str | None = None,
                broker_order_id: str | None = None, oms: object = None, broker: object = None,
                meaning: str = "") -> dict[str, Any]:
    return {"kind": kind, "symbol": symbol, "product": product, "order_id": order_id,
            "broker_order_id": broker_order_id, "oms": oms, "broker": broker, "meaning": meaning}


def difference_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """What identifies a difference across reconciliations (an accepted one is not listed again)."""
    return tuple(str(row.get(c)) for c in ("kind", "symbol", "product", "order_id", "broker_order_id", "broker"))


def _positions(books: object, differences: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Any]]:
    # The broker's net quantity by (symbol, product), with a price to adopt it at. CNC bought on earlier days is in
    # the holdings at Kite and its net positions show only what moved today (overnight_quantity 0); a broker that
    # counts it in both (the kit's own Kite API) reports it as overnight_quantity, which is taken out here.
    held: dict[tuple[str, str], tuple[int, Any]] = {}
    for name in ("positions", "holdings"):
        for raw in _listed(books, name, differences):
            symbol = _text(raw.get("tradingsymbol"))
            product = _text(raw.get("product", "CNC" if name == "holdings" else None))
            quantity = _count(raw.get("quantity"))
            extra = _count(raw.get("t1_quantity" if name == "holdings" else "overnight_quantity"), 0)
            if symbol is None or product is None or quantity is None or extra is None:
                differences.append(_difference("unreadable", broker=_shown(raw),
                                               meaning=f"an entry of the broker's {name} that cannot be read"))
                continue
            product = product.upper()
            if name == "holdings":
                quantity += extra
            elif product == Product.CNC.value:
                quantity -= extra
            key = (symbol, product)
            before, price = held.get(key, (0, None))
            held[key] = (before + quantity, price or raw.get("average_price") or raw.get("last_price"))
    return held


# -- comparing ---------------------------------------------------------------------------------------------------


Rows = list[dict[str, Any]]


def compare(manager: OrderManager, broker: Reconciling, books: object,
            acknowledged: frozenset[tuple[str, ...]] = frozenset()) -> tuple[Rows, Rows]:
    """Set the broker's ``books`` (as :meth:`Reconciling.books` gives them; anything is read safely) against the
    OMS: what matches is adopted (the broker applies its books to the orders it follows; a restored NEW order the
    broker never had is rejected), then what differs is listed. Returns ``(differences, adopted)`` as rows; the
    differences in ``acknowledged`` (:func:`difference_key`) are left out. Runs on the loop."""
    differences: list[dict[str, Any]] = []
    adopted: list[dict[str, Any]] = []
    entries: list[_Entry] = []
    for raw in _listed(books, "orders", differences):
        entry = _entry(raw)
        if entry is None:
            differences.append(_difference("unreadable", broker=_shown(raw),
                                           meaning="an order of the broker's book that cannot be read"))
        else:
            entries.append(entry)
    # Only a book read whole proves that an order is not at the broker (one of the unreadable entries may be it).
    whole_book = not differences and isinstance(books, Mapping) and isinstance(books.get("orders"), list)
    trades = _listed(books, "trades", differences)
    now = manager.now()

    before = {order_id: order.status for order_id, order in manager.live.items()}
    first = len(manager.trades)
    broker.apply_book([e.raw for e in entries], trades)
    for fill in manager.trades[first:]:
        adopted.append({"kind": "fill", "order_id": fill.order_id, "broker_order_id": broker.broker_ids.get(
            fill.order_id), "symbol": fill.symbol, "product": fill.product.value, "quantity": fill.side.sign
            * fill.quantity, "price": fill.price, "ts": fill.ts, "detail": "a trade at the broker, at its time"})
    for order_id, status in before.items():
        order = manager.orders[order_id]
        if order.status is not status:
            adopted.append(_adopted("status", order, broker.broker_ids.get(order_id), now,
                                    f"{status.value} -> {order.status.value}"))

    by_tag = {broker.tag(order): order_id for order_id, order in manager.orders.items()}
    by_broker = {broker_id: order_id for order_id, broker_id in broker.broker_ids.items()}
    by_broker.update((order_id[len(ADOPTED_PREFIX):], order_id) for order_id in manager.orders
                     if order_id.startswith(ADOPTED_PREFIX))
    found: set[str] = set()
    for entry in entries:
        matched = (by_tag.get(entry.tag) if entry.tag else None) or by_broker.get(entry.broker_id)
        if matched is None:
            if entry.stage in _LIVE or entry.filled:
                differences.append(_difference(
                    "unknown_order", entry.symbol, entry.product, None, entry.broker_id, None,
                    f"{entry.status} {entry.side} {entry.filled}/{entry.quantity}",
                    "an order at the broker that this OMS did not place"))
            continue
        found.add(matched)
        order = manager.orders[matched]
        if order.is_terminal and entry.stage in _LIVE and order.status is not OrderStatus.FILLED:
            differences.append(_difference(
                "order_status", order.symbol, order.product.value, matched, entry.broker_id, order.status.value,
                entry.status, "ended in the OMS, working at the broker"))
        elif order.status in _MODIFIABLE and entry.stage is Stage.WORKING:
            theirs = _values(entry, order)
            mine = {name: getattr(order, name) for name in theirs}
            if theirs != mine:
                differences.append(_difference(
                    "order_values", order.symbol, order.product.value, matched, entry.broker_id,
                    _shown(mine), _shown(theirs), "working with other values at the broker"))

    restored = broker.restored
    for order_id, order in list(manager.live.items()):
        if order_id in found:
            continue
        if order.status is OrderStatus.NEW:  # a NEW order of this process is on its way to the broker
            if order_id in restored and whole_book:
                manager.on_rejected(order_id, "not at the broker after the restart: its place never reached it", now)
                broker.release(order_id)
                adopted.append(_adopted("status", order, None, now, "NEW -> REJECTED (the broker never had it)"))
            continue
        differences.append(_difference(
            "missing_order", order.symbol, order.product.value, order_id, broker.broker_ids.get(order_id),
            order.status.value, None, "working in the OMS, not in the broker's book"))

    for mismatch in list(broker.mismatches):
        given = mismatch.get("data")
        differences.append(_not_applied(manager, mismatch.get("order_id"), given if isinstance(given, dict) else {},
                                        str(mismatch.get("what"))))

    theirs_held = _positions(books, differences)
    mine_held = {(p.symbol, p.product.value): p.quantity for p in manager.ledger.positions if p.quantity}
    for key in sorted(set(theirs_held) | set(mine_held)):
        mine_q, theirs_q = mine_held.get(key, 0), theirs_held.get(key, (0, None))[0]
        if mine_q != theirs_q:
            differences.append(_difference(
                "position", key[0], key[1], None, None, mine_q, theirs_q,
                f"the broker holds {theirs_q:+d}, the OMS {mine_q:+d}"))
    return [d for d in differences if difference_key(d) not in acknowledged], adopted


def _not_applied(manager: OrderManager, local: object, trade: dict[str, Any], what: str) -> dict[str, Any]:
    # A trade of the broker's that the OMS could not book (KiteBroker.mismatches), as a difference; its key names
    # the trade alone, so that one accepted is not listed again when the broker sets it aside once more.
    order = manager.orders.get(local) if isinstance(local, str) else None
    words = (f"trade {_text(trade.get('trade_id'))}: {_shown(trade.get('quantity'))} at "
             f"{_shown(trade.get('average_price'))}")
    return _difference("fill_not_applied", order.symbol if order else None, order.product.value if order else None,
                       _text(local), _text(trade.get("order_id")), None, words,
                       f"a trade the OMS could not book: {what}")


def _values(entry: _Entry, order: Order) -> dict[str, Any]:
    # The broker's quantity, price and trigger of a working order, as the OMS's order has them.
    values: dict[str, Any] = {"quantity": entry.quantity}
    if order.order_type.needs_price:
        values["price"] = _price(entry.raw.get("price"))
    if order.order_type.needs_trigger:
        values["trigger_price"] = _price(entry.raw.get("trigger_price"))
    return values


def _adopted(kind: str, order: Order, broker_id: str | None, ts: datetime, detail: str,
             quantity: int | None = None, price: Decimal | None = None) -> dict[str, Any]:
    return {"kind": kind, "order_id": order.order_id, "broker_order_id": broker_id, "symbol": order.symbol,
            "product": order.product.value, "quantity": quantity, "price": price, "ts": ts, "detail": detail}


# -- taking the broker's side ----------------------------------------------------------------------------------------


def adopt(manager: OrderManager, broker: Reconciling, books: object,
          differences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Take the broker's side of ``differences`` (found by :func:`compare` in the same ``books``): an unknown order
    becomes an OMS order (id ``K-`` and Kite's id) with its trades at their times; a missing order is cancelled in
    the OMS; an order ended here and working there is followed, so the broker cancels it there; another order's
    values become the broker's; a position still differing is adjusted by an order ``reconciliation`` filled at
    the broker's average price (no charges). Checks everything first: raises OmsError, changing nothing, when a
    difference cannot be adopted (an unreadable book, an instrument the OMS does not know, no price)."""
    instruments, now = manager.instruments, manager.now()
    held = _positions(books, [])
    problems = [f"{d['kind']}: {d['meaning']}" for d in differences if d["kind"] == "unreadable"]
    for d in differences:
        if d["kind"] == "position":
            symbol, theirs = d["symbol"], int(d["broker"])
            if symbol not in instruments or d["product"] not in Product.__members__ or abs(theirs) > MAX_QUANTITY \
                    or abs(theirs - int(d["oms"])) > MAX_QUANTITY:
                problems.append(f"position {symbol} {d['product']}: the OMS cannot hold it (instrument, product or "
                                f"quantity {theirs})")
            elif _adjusting_price(manager, symbol, held.get((symbol, d["product"]), (0, None))[1]) is None:
                problems.append(f"position {symbol} {d['product']}: no price to adopt it at (oms.set_price)")
    if problems:
        raise OmsError(f"{len(problems)} difference(s) cannot be adopted into the OMS", detail="; ".join(problems[:5]),
                       hint="define the instruments (oms.define_instruments), or accept_reconciliation(adopt=False) "
                       "to take the differences as they stand")
    raws = {e.broker_id: e for e in (_entry(r) for r in _listed(books, "orders", [])) if e is not None}
    trades = _listed(books, "trades", [])
    adopted: list[dict[str, Any]] = []
    for d in differences:
        kind, order_id, entry = d["kind"], d["order_id"], raws.get(d["broker_order_id"] or "")
        if kind == "unknown_order" and entry is not None:
            order = _order_of(manager, entry, now)
            if order is not None:
                broker.adopt(order, instruments[order.symbol], entry.broker_id)
                broker.apply_book([entry.raw], trades)
                adopted.append(_adopted("order", order, entry.broker_id, now,
                                        f"taken over from the broker: {order.status.value}", order.filled_quantity))
        elif kind == "missing_order":
            order = manager.orders[order_id]
            if not order.is_terminal:
                manager.on_cancelled(order_id, "not in the broker's book (reconciliation accepted)", now)
                broker.release(order_id)
                adopted.append(_adopted("status", order, d["broker_order_id"], now, "cancelled: not at the broker"))
        elif kind == "order_status" and entry is not None and order_id in manager.orders:
            order = manager.orders[order_id]
            if order.symbol in instruments:
                broker.adopt(order, instruments[order.symbol], entry.broker_id)  # the broker cancels it there
                adopted.append(_adopted("status", order, entry.broker_id, now, "cancelled at the broker"))
        elif kind == "order_values" and entry is not None:
            order = manager.orders[order_id]
            changes = {k: v for k, v in _values(entry, order).items() if v is not None and v != getattr(order, k)}
            if changes.get("quantity", order.filled_quantity + 1) <= order.filled_quantity:
                del changes["quantity"]
            if changes and order.status in _MODIFIABLE:
                manager.transition(order, OrderEvent(OrderEventType.MODIFY_REQUESTED, now, changes=changes))
                manager.transition(order, OrderEvent(OrderEventType.MODIFIED, now, changes=changes))
                adopted.append(_adopted("values", order, entry.broker_id, now, f"the broker's {changes}"))
    for d in differences:
        if d["kind"] == "position":
            key = (d["symbol"], d["product"])
            position = manager.ledger.position(key[0], Product(key[1]))
            theirs, quoted = held.get(key, (0, None))
            gap = theirs - (position.quantity if position is not None else 0)
            price = _adjusting_price(manager, key[0], quoted)
            # What the adopted orders booked meanwhile may leave a gap of its own; one past the bounds stays listed.
            if gap and abs(gap) <= MAX_QUANTITY and price is not None:
                adopted.append(_adjust(manager, key[0], Product(key[1]), gap, price, now))
    return adopted


def _adjusting_price(manager: OrderManager, symbol: str, quoted: object) -> Decimal | None:
    # The broker's average price of the position, else the OMS's last price of the symbol.
    return _price(quoted) or manager.prices.get(symbol) or manager.ledger.last_price(symbol)


def _order_of(manager: OrderManager, entry: _Entry, now: datetime) -> Order | None:
    # An OMS order for an order placed at the broker; None when the broker's record does not make one.
    order_id = ADOPTED_PREFIX + entry.broker_id
    if order_id in manager.orders or entry.symbol not in manager.instruments or entry.quantity < 1:
        return None
    try:
        side, order_type = Side.parse(entry.side, "side"), OrderType.parse(entry.raw.get("order_type"), "order_type")
        product = Product.parse(entry.product, "product")
    except OmsError:
        return None
    try:
        validity = Validity.parse(entry.raw.get("validity"), "validity")
    except OmsError:
        validity = Validity.DAY  # Kite's TTL: a day order that ends sooner
    price = _price(entry.raw.get("price")) if order_type.needs_price else None
    trigger = _price(entry.raw.get("trigger_price")) if order_type.needs_trigger else None
    order = Order(order_id, order_id, entry.symbol, side, entry.quantity,  # type: ignore[arg-type]
                  order_type, product, validity, price, trigger, "adopted", manager.account)
    order.created_at = order.updated_at = plausible(kite_time(entry.raw.get("order_timestamp"), now), now)
    _register(manager, order)
    return order


def _adjust(manager: OrderManager, symbol: str, product: Product, gap: int, price: Decimal,
            now: datetime) -> dict[str, Any]:
    # The broker's position taken into the ledger: an order tagged "reconciliation", filled at once at ``price``.
    order_id = f"R-{secrets.token_hex(3)}-1"
    order = Order(order_id, order_id, symbol, Side.BUY if gap > 0 else Side.SELL,  # type: ignore[arg-type]
                  abs(gap), OrderType.MARKET, product, Validity.DAY, None, None, SOURCE, manager.account)
    order.created_at = order.updated_at = now
    _register(manager, order)
    manager.on_accepted(order_id, now)
    manager.on_fill(order_id, abs(gap), price, Decimal(0), now)
    return _adopted("position", order, None, now, "the broker's position adopted", gap, price)


def _register(manager: OrderManager, order: Order) -> None:
    manager.adopt(order, working=True)
    manager.counts["placed"] += 1
    if manager.recorder is not None:
        manager.recorder.created(order, ())


def acknowledged_keys(manager: OrderManager, books: object, differences: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """The keys (:func:`difference_key`) under which ``differences``, taken as they stand, are not listed again:
    each difference's, and for an order ended here but working at the broker its trades' too (they are in the
    positions taken as they stand)."""
    keys: set[tuple[str, ...]] = set()
    for d in differences:
        keys.add(difference_key(d))
        if d["kind"] == "order_status":
            keys.update(difference_key(_not_applied(manager, d["order_id"], trade, ""))
                        for trade in _listed(books, "trades", [])
                        if _text(trade.get("order_id")) == d["broker_order_id"])
    return keys

