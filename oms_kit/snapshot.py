"""A typed, immutable picture of one account at one moment: what the dashboard shows and an HTTP API could send.

``take_snapshot(oms)`` (or ``oms.snapshot()``) copies the OMS's state into frozen dataclasses of plain values
(str, int, Decimal, datetime, None): the account's figures (its free cash and margins among them), its positions,
its working orders, each limit in use and the alerts of the session. Nothing in a snapshot points back into the
OMS, so it may be kept, compared or sent after the OMS has moved on; ``to_dict()`` gives JSON-ready values (Decimal
as a string, datetime in ISO 8601).

Each part has its own builder, which ``take_snapshot`` composes: ``account_view``, ``position_views``,
``working_order_views``, ``limit_views`` and ``alert_views``. A reader that shows one part builds only that part:
after every price moves, measuring a hundred limits costs more than a panel that shows the account's figures.

``order_history`` and ``trade_history`` are the day's orders and trades in the same plain form, newest first, for
a reader that wants a page of the book without building a DataFrame.

``gtt_views`` and ``program_views`` are the standing orders: the GTTs (:mod:`oms_kit.gtt`) and the order programs
(:mod:`oms_kit.programs`: brackets, cover orders, trailing stops, icebergs), each with the orders it would place or
has placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from oms_kit.account_margin import UsedMargin, rupees
from oms_kit.exposure import account_funds
from oms_kit.gtt import Gtt
from oms_kit.models import Fill, Order, Position
from oms_kit.programs import Program
from oms_kit.risk import LimitUse, RiskAlert, limit_uses

if TYPE_CHECKING:
    from oms_kit.oms import OMS

__all__ = ["AccountView", "AlertView", "FeedView", "GttLegView", "GttView", "LimitView", "MarginView", "OrderView",
           "PositionView", "ProgramView", "Snapshot", "TradeView", "account_view", "alert_views", "gtt_views",
           "limit_views", "order_history", "position_views", "program_views", "symbols", "take_snapshot",
           "trade_history", "working_order_views"]

_ZERO = Decimal(0)


def _plain(value: Any) -> Any:
    # JSON has no Decimal or datetime: a Decimal keeps every digit as a string, a datetime its zone in ISO 8601.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, _View):
        return value.to_dict()
    return value


class _View:
    """``to_dict()`` for the frozen dataclasses below."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values: Decimal as str, datetime as ISO 8601, views and tuples as dicts/lists."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PositionView(_View):
    """One position of the day (flat ones too): quantity, prices and P&L."""

    symbol: str
    product: str
    quantity: int
    average_price: Decimal
    last_price: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal

    @classmethod
    def of(cls, position: Position) -> PositionView:
        """The view of the ledger's ``position`` now."""
        return cls(position.symbol, position.product.value, position.quantity, position.average_price,
                   position.last_price, position.realized_pnl, position.unrealized_pnl)


@dataclass(frozen=True, slots=True)
class OrderView(_View):
    """One order as it stands: its fields, its fill so far, and why it was rejected or ended (``violations`` are
    the codes of the pre-trade checks it failed)."""

    order_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    product: str
    validity: str
    price: Decimal | None
    trigger_price: Decimal | None
    status: str
    filled_quantity: int
    average_price: Decimal | None
    violations: tuple[str, ...]
    reason: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, order: Order) -> OrderView:
        """The view of ``order`` now."""
        return cls(order.order_id, order.client_order_id, order.symbol, order.side.value, order.quantity,
                   order.order_type.value, order.product.value, order.validity.value, order.price,
                   order.trigger_price, order.status.value, order.filled_quantity, order.average_price,
                   tuple(v.code for v in order.violations), order.reason, order.created_at, order.updated_at)


@dataclass(frozen=True, slots=True)
class TradeView(_View):
    """One fill, fees included."""

    trade_id: str
    order_id: str
    symbol: str
    side: str
    quantity: int
    price: Decimal
    fees: Decimal
    ts: datetime | None
    product: str

    @classmethod
    def of(cls, fill: Fill) -> TradeView:
        """The view of ``fill``."""
        return cls(fill.trade_id, fill.order_id, fill.symbol, fill.side.value, fill.quantity, fill.price, fill.fees,
                   fill.ts, fill.product.value)


@dataclass(frozen=True, slots=True)
class LimitView(_View):
    """One risk limit in use: its measure now, its maximum, the use in percent, and WARN/BREACH or None."""

    limit: str
    symbol: str | None
    value: Decimal
    maximum: Decimal
    use_pct: float
    level: str | None

    @classmethod
    def of(cls, use: LimitUse) -> LimitView:
        """The view of ``use``."""
        return cls(use.limit_name, use.symbol, use.value, use.limit_value, float(use.fraction * 100), use.level)


@dataclass(frozen=True, slots=True)
class AlertView(_View):
    """A risk alert raised in the session."""

    alert_id: str
    ts: datetime
    level: str
    limit: str
    symbol: str | None
    value: Decimal
    maximum: Decimal
    message: str

    @classmethod
    def of(cls, alert: RiskAlert) -> AlertView:
        """The view of ``alert``."""
        return cls(alert.alert_id, alert.ts, alert.level, alert.limit_name, alert.symbol, alert.value,
                   alert.limit_value, alert.message)


@dataclass(frozen=True, slots=True)
class GttLegView(_View):
    """One leg of a GTT: the last price that fires it (``trigger``) and the order it then places."""

    trigger: Decimal
    side: str
    quantity: int
    order_type: str
    price: Decimal | None
    trigger_price: Decimal | None
    product: str
    validity: str


@dataclass(frozen=True, slots=True)
class GttView(_View):
    """One GTT: ``single`` (one leg) or ``two-leg`` (the stop, below the price it was made at, then the target),
    its status (active, triggered, cancelled, expired, rejected), the price it was made at (a single trigger above it
    fires at or above, one below at or below), its expiry, and the orders it placed when it fired."""

    gtt_id: str
    symbol: str
    kind: str
    status: str
    legs: tuple[GttLegView, ...]
    last_price: Decimal
    created_at: datetime
    updated_at: datetime | None
    expires_at: datetime
    fired_leg: int | None
    order_ids: tuple[str, ...]
    reason: str | None

    @classmethod
    def of(cls, gtt: Gtt, now: datetime) -> GttView:
        """The view of ``gtt`` at ``now``: an active one a year old is shown expired, as ``oms.gtts()`` lists it."""
        legs = tuple(GttLegView(t, o.side.value, o.quantity, o.order_type.value, o.price, o.trigger_price,
                                o.product.value, o.validity.value) for t, o in zip(gtt.triggers, gtt.orders,
                                                                                  strict=True))
        status = "expired" if gtt.status == "active" and now >= gtt.expires_at else gtt.status
        return cls(gtt.gtt_id, gtt.symbol, gtt.kind, status, legs, gtt.last_price, gtt.created_at, gtt.updated_at,
                   gtt.expires_at, gtt.fired_leg, tuple(gtt.order_ids), gtt.reason)


@dataclass(frozen=True, slots=True)
class ProgramView(_View):
    """One order program (bracket, cover, trailing, iceberg) as it stands: what was asked for (``side``,
    ``quantity``, the entry's ``order_type`` and ``price``; ``target`` and ``stoploss`` in points from the entry's
    fill; ``trail`` points or ``trail_percent``; an iceberg's ``legs``), where it is (``basis`` the entry's first fill
    price, ``best`` the best price a trailing stop has seen, ``entered`` and ``exited`` quantities, ``legs_sent``),
    the ids of its entry, target and stop orders and ``orders``, the views of every order it placed that the day's
    book holds, in the order they were placed."""

    program_id: str
    kind: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    price: Decimal | None
    product: str
    status: str
    target: Decimal | None
    stoploss: Decimal | None
    trail: Decimal | None
    trail_percent: Decimal | None
    legs: int
    legs_sent: int
    basis: Decimal | None
    best: Decimal | None
    entered: int
    exited: int
    entry_id: str | None
    target_id: str | None
    stop_id: str | None
    orders: tuple[OrderView, ...]
    created_at: datetime
    updated_at: datetime | None
    reason: str | None

    def order(self, order_id: str | None) -> OrderView | None:
        """The view of the program's order ``order_id`` (its ``entry_id``, ``target_id``…), None when absent."""
        return next((o for o in self.orders if o.order_id == order_id), None) if order_id else None


@dataclass(frozen=True, slots=True)
class FeedView(_View):
    """The price feed: its name, whether it runs or has finished, and how many updates it sent."""

    name: str
    running: bool
    finished: bool
    updates_sent: int


@dataclass(frozen=True, slots=True)
class MarginView(_View):
    """The F&O margin of one underlying (rupees to the paisa): its price and the symbol it came from, SPAN,
    exposure and total margin (initial, the higher of SPAN and the short option minimum, plus exposure). An
    underlying without a price has ``price`` None and zeros: its positions keep the ledger's plain block."""

    underlying: str
    price: Decimal | None
    reference: str | None
    span: Decimal
    initial: Decimal
    exposure: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class AccountView(_View):
    """The account's figures at ``taken_at`` (the OMS's clock): trading state, where it is stored, the feed (None
    without one), cash, equity and P&L, and the free cash with what holds the rest: ``available_funds = equity -
    equity_margin - fno_margin - option_premium`` (what every order's buying-power check sees; equity margin is what
    equity positions and working orders block, F&O margin the portfolio margin of futures and options, option
    premium the long options held and the premium of working option buys), and ``margins`` per underlying."""

    account: str
    taken_at: datetime
    trading_state: str
    backend: str
    durable: bool
    read_only: bool
    feed: FeedView | None
    cash: Decimal
    equity: Decimal
    day_pnl: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    gross_exposure: Decimal
    available_funds: Decimal
    equity_margin: Decimal
    fno_margin: Decimal
    option_premium: Decimal
    margins: tuple[MarginView, ...]


@dataclass(frozen=True, slots=True)
class Snapshot(AccountView):
    """The account at ``taken_at``: its figures (those of :class:`AccountView`) and its books.

    ``positions`` are sorted by symbol and product; ``working_orders`` are oldest first; ``limits`` are the limits
    in use, most used first; ``alerts`` are the session's, oldest first.
    """

    positions: tuple[PositionView, ...]
    working_orders: tuple[OrderView, ...]
    limits: tuple[LimitView, ...]
    alerts: tuple[AlertView, ...]


def take_snapshot(oms: OMS) -> Snapshot:
    """The state of ``oms`` now, as a :class:`Snapshot`: every part below, taken together."""
    account = account_view(oms)
    return Snapshot(**{f.name: getattr(account, f.name) for f in fields(AccountView)},
                    positions=position_views(oms), working_orders=working_order_views(oms), limits=limit_views(oms),
                    alerts=alert_views(oms))


def account_view(oms: OMS) -> AccountView:
    """The account's figures now, without its positions, orders, limits or alerts."""
    manager = oms.manager
    ledger = manager.ledger
    feed = oms.feed.status() if oms.feed is not None else None
    funds = account_funds(manager, manager.now())
    return AccountView(
        account=oms.account,
        taken_at=oms.clock.now(),
        trading_state=manager.trading_state.value,
        backend=oms.store.backend,
        durable=oms.store.durable,
        read_only=oms.read_only,
        feed=None if feed is None else FeedView(str(feed.get("name", "")), bool(feed.get("running")),
                                                bool(feed.get("finished")), int(feed.get("updates_sent", 0))),
        cash=ledger.cash,
        equity=ledger.equity(),
        day_pnl=ledger.day_pnl(),
        realized_pnl=ledger.realized_pnl(),
        unrealized_pnl=ledger.unrealized_pnl(),
        gross_exposure=ledger.gross_exposure(),
        available_funds=funds.available,
        equity_margin=funds.equity_margin,
        fno_margin=funds.fno_margin,
        option_premium=funds.option_premium,
        margins=_margin_views(funds.used),
    )


def _margin_views(used: UsedMargin | None) -> tuple[MarginView, ...]:
    if used is None:
        return ()
    views = [MarginView(r.underlying, rupees(r.price), used.references.get(r.underlying), rupees(r.span),
                        rupees(r.initial), rupees(r.exposure), rupees(r.total)) for r in used.rows]
    views += [MarginView(name, None, None, _ZERO, _ZERO, _ZERO, _ZERO) for name in used.unpriced]
    return tuple(views)


def position_views(oms: OMS) -> tuple[PositionView, ...]:
    """The day's positions (flat ones too), sorted by symbol and product."""
    return tuple(PositionView.of(p) for p in sorted(oms.manager.ledger.positions, key=_position_key))


def working_order_views(oms: OMS) -> tuple[OrderView, ...]:
    """The working orders, oldest first."""
    live = oms.manager.live
    views = _views_of(oms)
    views.trim(live)
    return views.orders(live.values())


def limit_views(oms: OMS) -> tuple[LimitView, ...]:
    """Each limit in use, most used first (the measure the risk monitor takes)."""
    manager = oms.manager
    uses = [LimitView.of(u) for u in limit_uses(manager.limits, manager.ledger, len(manager.live))]
    uses.sort(key=_most_used)
    return tuple(uses)


def alert_views(oms: OMS) -> tuple[AlertView, ...]:
    """The risk alerts of the session, oldest first."""
    return tuple(AlertView.of(a) for a in oms.alerts)


def order_history(oms: OMS, *, symbol: str | None = None, status: str | None = None, side: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = 100) -> tuple[OrderView, ...]:
    """The newest ``limit`` orders of the day in memory that match, newest first (what ``oms.orders()`` holds
    without a window reaching back before the day, filtered the same way)."""
    oms.load_day_book()  # a reopened account reads the rest of its day when first asked for it
    chosen = (o for o in reversed(oms.manager.orders.values())
              if (symbol is None or o.symbol == symbol) and (status is None or o.status == status)
              and (side is None or o.side == side) and _within(o.created_at, since, until))
    return _views_of(oms).orders(_first(chosen, limit))


def trade_history(oms: OMS, *, symbol: str | None = None, side: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 100) -> tuple[TradeView, ...]:
    """The newest ``limit`` trades of the day in memory that match, newest first (like ``oms.trades()``)."""
    oms.load_day_book()
    chosen = (t for t in reversed(oms.manager.trades)
              if (symbol is None or t.symbol == symbol) and (side is None or t.side == side)
              and _within(t.ts, since, until))
    return _views_of(oms).trades(_first(chosen, limit), limit)


def gtt_views(oms: OMS, status: str | None = None) -> tuple[GttView, ...]:
    """The GTTs (of ``status`` when given: active, triggered, cancelled, expired, rejected), oldest first; what
    ``oms.gtts()`` lists, without expiring anything (an active GTT a year old is shown expired)."""
    now = oms.clock.now()
    views = []
    for gtt in tuple(oms.manager.gtts.gtts.values()):
        # Only an active GTT's status may read otherwise (expired): the ended ones are skipped unbuilt.
        if status is None or gtt.status == status or gtt.status == "active":
            view = GttView.of(gtt, now)
            if status is None or view.status == status:
                views.append(view)
    return tuple(views)


def program_views(oms: OMS, status: str | None = None) -> tuple[ProgramView, ...]:
    """The order programs (of ``status`` when given: active, complete, cancelled, rejected), oldest first, each with
    the views of its orders; what ``oms.programs()`` lists."""
    programs = tuple(oms.manager.programs.book.programs.values())
    return tuple(_program_view(oms, p) for p in programs if status is None or p.status == status)


def _program_view(oms: OMS, program: Program) -> ProgramView:
    book = oms.manager.orders
    request = program.request  # an iceberg's holds its whole quantity; its legs split it
    orders = _views_of(oms).orders(book[i] for i in program.order_ids if i in book)
    return ProgramView(program.program_id, program.kind, program.symbol, request.side.value, request.quantity,
                       request.order_type.value, request.price, request.product.value, program.status, program.target,
                       program.stoploss, program.trail, program.trail_percent, program.legs, program.legs_sent,
                       program.basis, program.best, program.entered, program.exited, program.entry_id,
                       program.target_id, program.stop_id, orders, program.created_at, program.updated_at,
                       program.reason)


class _Views:
    """The views of one OMS's orders and trades, each kept while its order has not changed: most working orders
    stand still between two snapshots, fills never change, and a frozen dataclass of seventeen fields takes
    microseconds to build."""

    def __init__(self) -> None:
        self._orders: dict[str, tuple[Order, int, OrderView]] = {}
        self._trades: dict[str, tuple[Fill, TradeView]] = {}

    def orders(self, orders: Iterable[Order]) -> tuple[OrderView, ...]:
        """The views of ``orders``, in their order."""
        # An order changes only through its events, each of which counts up ``sequence``; a read-only OMS puts a
        # new object in place of an order that changed, hence the identity check too. One loop, no call per
        # order: a redraw reads five hundred working orders.
        kept = self._orders
        out = []
        for order in orders:
            entry = kept.get(order.order_id)
            if entry is None or entry[0] is not order or entry[1] != order.sequence:
                entry = kept[order.order_id] = (order, order.sequence, OrderView.of(order))
            out.append(entry[2])
        return tuple(out)

    def trades(self, fills: Iterable[Fill], limit: int) -> tuple[TradeView, ...]:
        """The views of ``fills`` (at most ``limit`` of them), in their order."""
        kept = self._trades
        if len(kept) > 2 * limit + 1000:  # the trades of earlier pages: forget them all, the page is rebuilt
            kept.clear()
        out = []
        for fill in fills:
            entry = kept.get(fill.trade_id)
            if entry is None or entry[0] is not fill:
                entry = kept[fill.trade_id] = (fill, TradeView.of(fill))
            out.append(entry[1])
        return tuple(out)

    def trim(self, keep: dict[str, Order]) -> None:
        """Forget the views of orders not in ``keep`` once many are kept (the ended ones of history pages)."""
        if len(self._orders) > 2 * len(keep) + 1000:
            self._orders = {k: v for k, v in self._orders.items() if k in keep}


_VIEWS: WeakKeyDictionary[OMS, _Views] = WeakKeyDictionary()


def _views_of(oms: OMS) -> _Views:
    views = _VIEWS.get(oms)
    if views is None:
        views = _VIEWS[oms] = _Views()
    return views


def symbols(oms: OMS) -> tuple[str, ...]:
    """The symbols ``oms`` knows, sorted: the choices of an order ticket or a filter."""
    return tuple(sorted(oms.manager.instruments))


def _most_used(view: LimitView) -> float:
    return -view.use_pct


def _position_key(position: Position) -> tuple[str, str]:
    return position.symbol, position.product.value


def _within(ts: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    return ts is None or ((since is None or ts >= since) and (until is None or ts <= until))


def _first(items: Iterable[Any], limit: int) -> Iterator[Any]:
    for count, item in enumerate(items, 1):
        yield item
        if count >= limit:
            return
