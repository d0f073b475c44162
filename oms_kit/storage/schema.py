"""What each table holds, for the writers: columns in order, the key, and whether a row is replaced or only added.

The SQL in ``migrations/`` creates the tables; this module tells the write path how to batch rows into them.
A row is a tuple of Python values in column order: ``str``, ``int``, ``bool``, ``Decimal``, timezone-aware
``datetime`` (UTC) or ``None``. JSON columns hold text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "int", "bool", "decimal", "timestamp"]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[tuple[str, Kind], ...]
    key: tuple[str, ...]
    # "upsert": a later row with the same key replaces the earlier one (orders, positions, current state);
    # "append": a row is written once and a retry of it changes nothing (events, trades, decisions).
    mode: Literal["upsert", "append"]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def key_indexes(self) -> tuple[int, ...]:
        names = self.column_names
        return tuple(names.index(k) for k in self.key)


def _table(name: str, key: tuple[str, ...], mode: Literal["upsert", "append"], spec: str) -> Table:
    columns = tuple((col, kind) for col, kind in (item.split(":") for item in spec.split()))
    return Table(name, columns, key, mode)  # type: ignore[arg-type]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _table(
            "orders",
            ("order_id",),
            "upsert",
            "order_id:text client_order_id:text account:text symbol:text side:text order_type:text product:text "
            "validity:text quantity:int price:decimal trigger_price:decimal filled_quantity:int "
            "average_price:decimal status:text triggered:bool violations:text reason:text tag:text "
            "created_at:timestamp updated_at:timestamp sequence:int variety:text disclosed_quantity:int",
        ),
        _table(
            "order_events",
            ("event_id",),
            "append",
            "event_id:text order_id:text account:text sequence:int ts:timestamp event_type:text "
            "from_status:text to_status:text detail:text",
        ),
        _table(
            "trades",
            ("trade_id",),
            "append",
            "trade_id:text order_id:text account:text symbol:text product:text side:text quantity:int "
            "price:decimal fees:decimal ts:timestamp",
        ),
        _table(
            "positions",
            ("account", "symbol", "product"),
            "upsert",
            "account:text symbol:text product:text quantity:int average_price:decimal realized_pnl:decimal "
            "fees:decimal last_price:decimal bought_quantity:int sold_quantity:int updated_at:timestamp",
        ),
        _table("accounts", ("account",), "upsert",
               "account:text cash:decimal updated_at:timestamp day_began:timestamp day_base:decimal "
               "day_closing_fills:int day_winning_fills:int"),
        _table(
            "risk_alerts",
            ("alert_id",),
            "upsert",
            "alert_id:text account:text ts:timestamp level:text limit_name:text symbol:text value:decimal "
            "limit_value:decimal message:text cleared_at:timestamp",
        ),
        _table(
            "risk_decisions",
            ("decision_id",),
            "append",
            "decision_id:text account:text order_id:text ts:timestamp accepted:bool violations:text",
        ),
        _table(
            "trading_state",
            ("account",),
            "upsert",
            "account:text state:text reason:text source:text changed_at:timestamp",
        ),
        _table(
            "trading_state_changes",
            ("change_id",),
            "append",
            "change_id:text account:text ts:timestamp from_state:text to_state:text reason:text source:text",
        ),
        _table(
            "gtts",
            ("account", "gtt_id"),
            "upsert",
            "gtt_id:text account:text symbol:text kind:text status:text triggers:text orders:text "
            "last_price:decimal created_at:timestamp updated_at:timestamp expires_at:timestamp fired_leg:int "
            "order_ids:text reason:text",
        ),
        _table(
            "programs",
            ("account", "program_id"),
            "upsert",
            "program_id:text account:text kind:text symbol:text status:text spec:text state:text "
            "created_at:timestamp updated_at:timestamp reason:text",
        ),
    )
}
