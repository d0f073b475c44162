"""Soak: 10,000 random operations on one OMS — places of every order type, product and validity, modifies, cancels,
price moves and a few session ends — by several concurrent callers, on DuckDB in memory and on PostgreSQL.

Every event emitted is counted (a subscriber to all kinds) and compared with the records stored: one order_events
row per order event (its creation included), one trades row per fill event, the positions table as the
last position events left it, one risk decision per order. Then the state is rebuilt from the store — from the
tables, by replaying the stored trades through a fresh ledger, and on PostgreSQL by reopening the account — and
compared with the live state. The figures (operations, seconds, records, mismatches) are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from oms_kit import (
    OMS,
    Event,
    InvalidOrderError,
    MockBroker,
    OmsError,
    OrderFilled,
    OrderModifyRejected,
    OrderUpdated,
    PositionChanged,
    RiskLimits,
    SimulatedClock,
    TradingStateChanged,
)
from oms_kit.ledger import Ledger
from oms_kit.models import Fill, OrderStatus, Product, Side
from oms_kit.tradable import Instrument
from tests.stubs import assert_store_matches

pytestmark = pytest.mark.slow

OPERATIONS = 10_000
CALLERS = 4
SEED = 20260105
CASH = Decimal(50_000_000)
START = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)  # 09:30 in Mumbai
LOTS = Instrument("LOTS", tick_size=Decimal("0.10"), lot_size=5)
BASE_PRICES = {"RELIANCE": 2500.0, "TCS": 3900.0, "INFY": 1500.0, "SBIN": 800.0, "LOTS": 100.0}
SYMBOLS = list(BASE_PRICES)
# The throttles would stop a soak by design; the other checks stay on and reject a share of the orders.
LIMITS = RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_order_quantity=400,
                    max_open_orders=150, price_collar_pct=Decimal("5"), max_position_quantity=3000)
# The refusal of a modify or cancel of an order that is no longer working (another caller's cancel, a fill).
ENDED_MEANWHILE = re.compile(r"cannot (modify|cancel) order \S+: status is [A-Z_]+$")
# Weights of the operations: place, modify, cancel, price move, end of session.
KINDS = ["place", "modify", "cancel", "price", "end_session"]
WEIGHTS = [46, 14, 12, 27.8, 0.2]


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def soak_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "duckdb:///:memory:"
    return request.getfixturevalue("pg_url")


@dataclass
class Emitted:
    """What the OMS published, as the store should have recorded it."""

    kinds: Counter[str] = field(default_factory=Counter)
    transitions: set[tuple[Any, ...]] = field(default_factory=set)  # (order_id, sequence, event, from, to)
    last_order: dict[str, Any] = field(default_factory=dict)  # order id: the order as its last event showed it
    fills: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # trade id: (order, symbol, side, qty, price...)
    positions: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)  # last event per position
    state_changes: int = 0
    # An assert here would be lost: the bus logs what a subscriber raises and goes on. Kept, and checked after.
    doubled: list[Any] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.kinds[event.kind] += 1
        if isinstance(event, OrderUpdated):
            order = event.order
            key = (order.order_id, order.sequence, event.event_type, event.previous_status, order.status.value)
            if key in self.transitions:
                self.doubled.append(key)
            self.transitions.add(key)
            self.last_order[order.order_id] = order
        elif isinstance(event, OrderFilled):
            f = event.fill
            if f.trade_id in self.fills:
                self.doubled.append(f.trade_id)
            self.fills[f.trade_id] = (f.order_id, f.symbol, f.product.value, f.side.value, f.quantity, f.price, f.fees)
        elif isinstance(event, PositionChanged):
            p = event.position
            self.positions[p.symbol, p.product.value] = _position_key(p)
        elif isinstance(event, TradingStateChanged):
            self.state_changes += 1


def _position_key(p: Any) -> tuple[Any, ...]:
    return (p.quantity, p.average_price, p.realized_pnl, p.fees, p.bought_quantity, p.sold_quantity)


class Caller:
    """One trader making random operations from its own seeded generator."""

    def __init__(self, oms: OMS, clock: SimulatedClock, seed: int, outcomes: Counter[str]) -> None:
        self.oms = oms
        self.clock = clock
        self.rng = random.Random(seed)
        self.outcomes = outcomes
        self.walk = {symbol: 0.0 for symbol in SYMBOLS}  # log distance of each price from its base

    async def run(self, operations: int) -> None:
        for _ in range(operations):
            self.clock.advance(self.rng.choice((0.0, 0.01, 0.05, 0.2)))
            kind = self.rng.choices(KINDS, WEIGHTS)[0]
            try:
                outcome = await getattr(self, kind)()
            except InvalidOrderError:  # refused at the door: nothing recorded
                outcome = "invalid"
            except OrderModifyRejected:  # a modify a rule forbids
                outcome = "refused"
            except OmsError as error:
                # An order that ended meanwhile; any other error (a state-machine or persistence error) fails.
                if type(error) is not OmsError or not ENDED_MEANWHILE.match(error.message):
                    raise
                outcome = "refused"
            self.outcomes[f"{kind} {outcome}"] += 1

    def price_of(self, symbol: str) -> float:
        last = self.oms.last_price(symbol)
        return float(last) if last is not None else BASE_PRICES[symbol]

    def on_tick(self, symbol: str, value: float) -> Decimal:
        tick = LOTS.tick_size if symbol == "LOTS" else Decimal("0.05")
        price = (Decimal(str(value)) / tick).to_integral_value() * tick
        if self.rng.random() < 0.05:
            price += tick / 2  # off the tick: PRICE_NOT_ON_TICK
        return price

    async def place(self) -> str:
        rng = self.rng
        symbol = rng.choice(SYMBOLS)
        side = rng.choice(("BUY", "SELL"))
        order_type = rng.choice(("MARKET", "LIMIT", "LIMIT", "SL", "SL-M"))
        product = rng.choice(("MIS", "MIS", "NRML", "CNC"))
        validity = "IOC" if order_type != "SL-M" and rng.random() < 0.15 else "DAY"
        lot = LOTS.lot_size if symbol == "LOTS" else 1
        quantity = lot * rng.randint(1, 40) * (20 if rng.random() < 0.03 else 1) + (rng.random() < 0.02)
        last = self.price_of(symbol)
        away = 1 if side == "BUY" else -1
        price = trigger = None
        if order_type == "LIMIT":
            # Mostly resting within the collar, some marketable, some beyond the 5 % collar.
            price = self.on_tick(symbol, last * (1 + rng.uniform(-0.06, 0.02) * away))
        elif order_type in ("SL", "SL-M"):
            trigger = self.on_tick(symbol, last * (1 + rng.uniform(0.001, 0.03) * away))
            if order_type == "SL":
                price = self.on_tick(symbol, float(trigger) * (1 + 0.005 * away))
        order = await self.oms.place_order(symbol, side, quantity, order_type, price, product=product,
                                           validity=validity, trigger_price=trigger)
        return order.status.value

    def working(self) -> Any:
        live = list(self.oms.manager.live.values())
        return self.rng.choice(live) if live else None

    async def modify(self) -> str:
        order = self.working()
        if order is None:
            return "none"
        rng = self.rng
        choice = rng.random()
        if choice < 0.4 or not (order.order_type.needs_price or order.order_type.needs_trigger):
            await self.oms.modify_order(order.order_id, quantity=order.filled_quantity + rng.randint(1, 40))
        elif order.order_type.needs_price and (choice < 0.8 or not order.order_type.needs_trigger):
            away = 1 if order.side is Side.BUY else -1
            price = self.on_tick(order.symbol, self.price_of(order.symbol) * (1 + rng.uniform(-0.04, 0.01) * away))
            await self.oms.modify_order(order.order_id, price=price)
        else:
            base = float(order.trigger_price or self.price_of(order.symbol))
            trigger = self.on_tick(order.symbol, base * rng.uniform(0.99, 1.01))
            await self.oms.modify_order(order.order_id, trigger_price=trigger)
        return "done"

    async def cancel(self) -> str:
        order = self.working()
        if order is None:
            return "none"
        await self.oms.cancel_order(order.order_id)
        return "done"

    async def price(self) -> str:
        symbol = self.rng.choice(SYMBOLS)
        # A mean-reverting walk in log price: moves of about 0.4 %, never far from the base.
        self.walk[symbol] = 0.97 * self.walk[symbol] + self.rng.gauss(0, 0.004)
        # Off the tick (the OMS rounds it), with the at most 8 decimals set_price takes.
        price = round(BASE_PRICES[symbol] * math.exp(self.walk[symbol]), 4)
        await self.oms.set_price(symbol, price, volume=None)
        return "done"

    async def end_session(self) -> str:
        await self.oms.end_session()
        return "done"


async def _open(url: str, clock: SimulatedClock) -> OMS:
    return await OMS.open(url, feed=None, risk_interval=None, limits=LIMITS, cash=CASH, clock=clock,
                          instruments=[LOTS], broker=MockBroker(fees="india_equity"))


async def _mismatches(oms: OMS, emitted: Emitted, rows: dict[str, int]) -> list[str]:
    """Compare events emitted, records stored and the live state; return one line per difference."""
    store, manager, ledger = oms.store, oms.manager, oms.manager.ledger
    found: list[str] = []

    def differ(what: str, left: Any, right: Any) -> None:
        if left != right:
            found.append(f"{what}: {_brief(left)} != {_brief(right)}")

    events = await store.fetch("SELECT order_id, sequence, event_type, from_status, to_status FROM order_events")
    rows["order_events"] = len(events)
    created = [e for e in events if e["event_type"] == "CREATED"]
    stored_transitions = {(e["order_id"], e["sequence"], e["event_type"], e["from_status"], e["to_status"])
                          for e in events}
    differ("order_events rows vs order events emitted", len(events), emitted.kinds["order"])
    differ("order transitions stored but not emitted", stored_transitions - emitted.transitions, set())
    differ("order transitions emitted but not stored", emitted.transitions - stored_transitions, set())

    orders = {row["order_id"]: row for row in await store.fetch("SELECT * FROM orders")}
    rows["orders"] = len(orders)
    differ("CREATED rows vs orders", sorted(e["order_id"] for e in created), sorted(orders))
    differ("orders stored vs orders placed", set(orders), set(manager.orders))
    for order_id, order in manager.orders.items():
        row = orders.get(order_id)
        live = (order.status.value, order.filled_quantity, order.average_price, order.quantity, order.price,
                order.trigger_price, order.sequence)
        stored = row and (row["status"], row["filled_quantity"], row["average_price"], row["quantity"],
                          row["price"], row["trigger_price"], row["sequence"])
        differ(f"order {order_id} stored vs live", stored, live)
        last = emitted.last_order.get(order_id)
        if last is not None:
            differ(f"order {order_id} last event vs live", (last.status.value, last.filled_quantity, last.sequence),
                   (order.status.value, order.filled_quantity, order.sequence))
        else:
            found.append(f"order {order_id}: no event emitted")

    trades = await store.fetch("SELECT * FROM trades ORDER BY ts, trade_id")
    rows["trades"] = len(trades)
    stored_fills = {t["trade_id"]: (t["order_id"], t["symbol"], t["product"], t["side"], t["quantity"], t["price"],
                                    t["fees"]) for t in trades}
    differ("trades rows vs fill events", len(trades), emitted.kinds["fill"])
    differ("trades vs fills emitted", stored_fills, emitted.fills)
    differ("trades vs live trades", set(stored_fills), {f.trade_id for f in manager.trades})

    positions = await store.fetch("SELECT * FROM positions")
    rows["positions"] = len(positions)
    stored_positions = {(p["symbol"], p["product"]): _position_key(_Row(p)) for p in positions}
    live_positions = {(p.symbol, p.product.value): _position_key(p) for p in ledger.positions}
    differ("positions stored vs last position events", stored_positions, emitted.positions)
    differ("positions stored vs live", stored_positions, live_positions)
    differ("position events vs fill events", emitted.kinds["position"], emitted.kinds["fill"])

    # Rebuilt from the trades alone: a fresh ledger fed the stored fills in order.
    rebuilt = Ledger(CASH, oms.account)
    for t in sorted(trades, key=lambda t: (t["ts"], int(t["trade_id"].rsplit("-", 1)[1]))):
        rebuilt.apply_fill(Fill(t["trade_id"], t["order_id"], t["symbol"], Side(t["side"]), t["quantity"],
                                t["price"], t["fees"], t["ts"], Product(t["product"]), oms.account))
    differ("positions replayed from trades vs live", {(p.symbol, p.product.value): _position_key(p)
                                                      for p in rebuilt.positions}, live_positions)
    differ("cash replayed from trades vs live", rebuilt.cash, ledger.cash)
    cash = await store.fetch("SELECT cash FROM accounts")
    differ("cash stored vs live", [row["cash"] for row in cash], [ledger.cash])

    decisions = await store.fetch("SELECT decision_id, order_id, accepted FROM risk_decisions")
    rows["risk_decisions"] = len(decisions)
    placed = [d for d in decisions if d["decision_id"] == f"D-{d['order_id']}"]
    modifies = [d for d in decisions if d["decision_id"] != f"D-{d['order_id']}"]
    differ("risk decisions of orders vs orders", sorted((d["order_id"], d["accepted"]) for d in placed),
           sorted((o.order_id, not o.violations) for o in manager.orders.values()))
    # One decision per modify, refused when the modify was: as many as MODIFY_REQUESTED and MODIFY_REJECTED events.
    modified = Counter(key[2] for key in emitted.transitions if key[2] in ("MODIFY_REQUESTED", "MODIFY_REJECTED"))
    differ("risk decisions of modifies (all, refused) vs modify events",
           (len(modifies), sum(not d["accepted"] for d in modifies)),
           (modified["MODIFY_REQUESTED"], modified["MODIFY_REJECTED"]))
    changes = await store.fetch("SELECT count(*) AS n FROM trading_state_changes")
    differ("trading state changes stored vs emitted", changes[0]["n"], emitted.state_changes)
    return found


class _Row:
    """A positions row read like a Position."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "…"


async def _reopened_mismatches(oms: OMS, url: str, clock: SimulatedClock) -> list[str]:
    """Close the OMS, reopen the account from the store and compare what recovery restores with the live state."""
    manager, ledger = oms.manager, oms.manager.ledger
    live = {
        "cash": ledger.cash,
        "positions": {(p.symbol, p.product.value): _position_key(p) for p in ledger.positions},
        "working": {o.order_id: (o.status.value, o.filled_quantity, o.remaining_quantity, o.price, o.trigger_price)
                    for o in manager.live.values()},
        "counts": dict(manager.counts),
        "trading_state": manager.trading_state.value,
    }
    await oms.close()
    again = await _open(url, clock)
    try:
        restored = {
            "cash": again.manager.ledger.cash,
            "positions": {(p.symbol, p.product.value): _position_key(p) for p in again.manager.ledger.positions},
            "working": {o.order_id: (o.status.value, o.filled_quantity, o.remaining_quantity, o.price,
                                     o.trigger_price) for o in again.manager.live.values()},
            "counts": dict(again.manager.counts),
            "trading_state": again.manager.trading_state.value,
        }
    finally:
        await again.close()
    return [f"reopened {name}: {_brief(restored[name])} != {_brief(value)}"
            for name, value in live.items() if restored[name] != value]


async def test_soak_of_random_operations_stores_every_event_and_rebuilds_the_live_state(soak_url):
    clock = SimulatedClock(START)
    oms = await _open(soak_url, clock)
    emitted = Emitted()
    oms.subscribe(emitted)
    outcomes: Counter[str] = Counter()
    callers = [Caller(oms, clock, SEED + k, outcomes) for k in range(CALLERS)]

    started = time.perf_counter()
    await asyncio.gather(*(caller.run(OPERATIONS // CALLERS) for caller in callers))
    await oms.flush()
    seconds = time.perf_counter() - started

    rows: dict[str, int] = {}
    mismatches = await _mismatches(oms, emitted, rows)
    await assert_store_matches(oms)
    if oms.store.durable:
        mismatches += await _reopened_mismatches(oms, soak_url, clock)
    else:
        await oms.close()

    operations = sum(outcomes.values())
    print(f"\nsoak on {oms.store.backend}{'' if oms.store.durable else ' (memory)'}: {operations} operations by "
          f"{CALLERS} callers in {seconds:.1f} s ({operations / seconds:,.0f}/s), {oms.queue.transactions} "
          f"transactions")
    print("  operations: " + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items())))
    print("  events emitted: " + ", ".join(f"{k} {n}" for k, n in sorted(emitted.kinds.items())))
    print("  records stored: " + ", ".join(f"{k} {n}" for k, n in rows.items()))
    rejections = Counter(v.code for o in oms.manager.orders.values() for v in o.violations)
    print("  rejections: " + ", ".join(f"{k} {n}" for k, n in rejections.most_common()))
    print(f"  mismatches: {len(mismatches)}")
    assert operations == OPERATIONS
    assert emitted.doubled == [], f"events emitted twice: {emitted.doubled[:20]}"
    assert oms.bus.errors == 0, "a subscriber failed (logged)"
    assert mismatches == [], "\n".join(mismatches[:20])
    # The soak reached every path it is meant to exercise.
    for outcome in ("place FILLED", "place OPEN", "place TRIGGER_PENDING", "place REJECTED", "place EXPIRED",
                    "modify done", "modify refused", "cancel done", "end_session done"):
        assert outcomes[outcome] > 0, f"no operation ended as {outcome!r}: {outcomes}"
    statuses = Counter(o.status for o in oms.manager.orders.values())
    for status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED):
        assert statuses[status] > 0, f"no order ended {status}: {statuses}"
