"""The record codec: each writer makes a row of its table's width, and what it writes reads back as it was, through
a real store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from oms_kit.fsm import OrderEvent, OrderEventType
from oms_kit.gtt import Gtt
from oms_kit.models import Fill, Order, OrderStatus, OrderType, Position, Product, Side, Validity, Violation
from oms_kit.programs import Program
from oms_kit.request import OrderRequest
from oms_kit.risk import RiskAlert
from oms_kit.storage import open_store
from oms_kit.storage import records as r
from oms_kit.storage.schema import TABLES
from tests.stubs import T0

ORDER = Order("O-ab-7", "C-ab-7", "SBIN", Side.SELL, 30, OrderType.SL, Product.CNC, Validity.IOC, Decimal("801.05"),
              Decimal("802.00"), "swing", "acct", OrderStatus.PARTIALLY_FILLED, 10, Decimal("801.12345678"),
              Decimal("8011.2345678"), True, (Violation("PRICE_NOT_ON_TICK", "off the tick", Decimal("0.05"), 3),),
              "a reason", T0, T0 + timedelta(seconds=3), 4, disclosed_quantity=3)
FILL = Fill("T-ab-1", "O-ab-7", "SBIN", Side.SELL, 10, Decimal("801.10"), Decimal("12.34"), T0, Product.CNC, "acct")
POSITION = Position("SBIN", Product.CNC, "acct", -10, Decimal("801.10"), Decimal("5.5"), Decimal("12.34"),
                    Decimal("800.95"), 0, 10, T0)
GTT = Gtt("G-3", "SBIN", "two-leg", (Decimal("780.05"), Decimal("850")),
          (OrderRequest("SBIN", "SELL", 30, product="CNC"), OrderRequest("SBIN", "SELL", 30, "LIMIT", "849.95",
                                                                          product="CNC", tag="target")),
          Decimal("801.10"), T0, T0 + timedelta(days=365), "triggered", T0 + timedelta(days=3), 1, ["O-ab-9"],
          "leg 1 fired")
PROGRAM = Program("P-4", "bracket", "SBIN", OrderRequest("SBIN", "BUY", 30, "LIMIT", "800", product="MIS",
                                                     client_order_id="b-1"), T0, target=Decimal("12.5"),
                  stoploss=Decimal("4"), trail_percent=Decimal("0.75"), updated_at=T0 + timedelta(seconds=9),
                  entry_id="O-ab-7", target_id="O-ab-8", stop_id="O-ab-9", order_ids=["O-ab-7", "O-ab-8", "O-ab-9"],
                  basis=Decimal("800.00"), best=Decimal("806.35"), entered=30, entry_done=True, exited=10,
                  reason="a partial exit")
ALERT = RiskAlert("A-1", "acct", T0, "WARN", "max_gross_exposure", None, Decimal("80"), Decimal("100"), "80 %")


def every_row() -> list[tuple[str, tuple[object, ...]]]:
    event = OrderEvent(OrderEventType.PARTIALLY_FILLED, T0, 10, Decimal("801.10"))
    return [
        r.order_row(ORDER), r.created_row(ORDER), r.event_row(ORDER, event, OrderStatus.OPEN),
        r.decision_row("D-O-ab-7", ORDER, T0, ORDER.violations), r.trade_row(FILL), r.position_row(POSITION, T0),
        r.account_row("acct", Decimal("12.5"), T0, T0, Decimal("-3"), 2, 1),
        r.trading_state_row("acct", "HALTED", "why", "user", T0),
        r.state_change_row("S-1", "acct", T0, "ACTIVE", "HALTED", "why", "user"), r.alert_row(ALERT),
        r.gtt_row(GTT, "acct"), r.program_row(PROGRAM, "acct"),
    ]


def test_every_table_has_a_writer_of_its_width() -> None:
    rows = every_row()
    assert {table for table, _ in rows} == set(TABLES)
    for table, values in rows:
        assert len(values) == len(TABLES[table].columns), table


async def test_what_is_written_reads_back_as_it_was() -> None:
    store = await open_store("duckdb:///:memory:")
    try:
        await store.write(every_row())
        (order,) = await store.fetch("SELECT * FROM orders")
        (trade,) = await store.fetch("SELECT * FROM trades")
        (position,) = await store.fetch("SELECT * FROM positions")
        (alert,) = await store.fetch("SELECT * FROM risk_alerts")
        (gtt,) = await store.fetch("SELECT * FROM gtts")
        (program,) = await store.fetch("SELECT * FROM programs")
        events = await store.fetch("SELECT * FROM order_events ORDER BY sequence")
    finally:
        await store.close()

    back = r.order_from_row(order, ORDER.filled_value)
    assert [v.to_dict() for v in back.violations] == [v.to_dict() for v in ORDER.violations]
    # dataclasses.replace, not the class's __slots__: compiled, Order is a native class and has none.
    assert back == dataclasses.replace(ORDER, violations=back.violations)
    assert r.fill_from_row(trade) == FILL
    assert r.position_from_row(position) == POSITION
    assert r.alert_from_row(alert) == ALERT
    assert r.gtt_from_row(gtt).to_dict() == GTT.to_dict()
    assert r.program_from_row(program).to_dict() == PROGRAM.to_dict()
    assert [(e["event_type"], e["from_status"], e["to_status"], e["detail"]) for e in events] == [
        ("CREATED", None, "NEW", "{}"),
        ("PARTIALLY_FILLED", "OPEN", "PARTIALLY_FILLED", '{"quantity": 10, "price": "801.10"}'),
    ]
