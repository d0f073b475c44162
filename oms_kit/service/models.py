"""The JSON bodies of the HTTP API as pydantic models: what a request may carry (checked for JSON types here, for
the order's rules by :class:`~oms_kit.request.OrderRequest`) and what a response holds (for the OpenAPI document at
``/docs``; responses are built from the OMS's own values, see :mod:`oms_kit.service.encode`).

Request models refuse unknown fields (a misspelt ``qty`` is a 422 naming it, not an order of the default size) and
values of the wrong JSON type (``true`` for a quantity, ``10`` for a symbol). Whether a value of the right type is
allowed (a quantity of 0, a price off the tick, ``side: "HOLD"``) is the order's rules' business: ``OrderRequest``
raises InvalidOrderError naming the field, which becomes a 422 of the same shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictStr, WithJsonSchema

from oms_kit.models import OrderType, Product, Side, Validity, Variety
from oms_kit.request import OrderRequest


def _number_or_text(value: Any) -> Any:
    # JSON's numbers and strings pass as they are (OrderRequest reads "2500.05" and 2500.05 alike); true, null
    # (where a value is required), objects and arrays are refused here.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a number, or a decimal number as a string such as \"2500.05\"")
    return value


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a whole number (a JSON number, not a string or true/false)")
    return value


Price = Annotated[Any, PlainValidator(_number_or_text),
                  WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}], "examples": ["2500.05"]})]
Quantity = Annotated[Any, PlainValidator(_whole_number), WithJsonSchema({"type": "integer", "minimum": 1,
                                                                         "examples": [10]})]
Disclosed = Annotated[Any, PlainValidator(_whole_number), WithJsonSchema({
    "type": "integer", "minimum": 0, "examples": [100],
    "description": "how much the exchange shows at a time, 0 for all of it; at least 10% of the quantity and at "
                   "most all of it, LIMIT and SL orders in cash equity only (DISCLOSED_QUANTITY)"})]


def _choice(members: type[Any], default: Any = ...) -> Any:
    # A text field whose documented values are the enum's; the text is parsed (any case) by OrderRequest.
    values = [m.value for m in members]
    return Field(default=getattr(default, "value", default), description=" or ".join(values) + " (any case)",
                 json_schema_extra={"enum": values})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderIn(_Body):
    """A new order (``POST /api/oms/orders``), with the fields and defaults of ``OMS.place_order``.

    ``client_order_id`` makes a retry safe: the same id with the same order returns the order already placed.
    """

    symbol: StrictStr = Field(examples=["RELIANCE"])
    side: StrictStr = _choice(Side)
    quantity: Quantity
    order_type: StrictStr = _choice(OrderType, OrderType.MARKET)
    price: Price | None = Field(default=None, description="LIMIT and SL orders only")
    trigger_price: Price | None = Field(default=None, description="SL and SL-M orders only")
    product: StrictStr = _choice(Product, Product.MIS)
    validity: StrictStr = _choice(Validity, Validity.DAY)
    client_order_id: StrictStr | None = None
    tag: StrictStr | None = None
    variety: StrictStr = _choice(Variety, Variety.REGULAR)
    disclosed_quantity: Disclosed = 0

    def request(self) -> OrderRequest:
        """The order as an :class:`OrderRequest`: every rule of a well-formed order checked (InvalidOrderError)."""
        return OrderRequest(self.symbol, self.side, self.quantity, self.order_type, self.price, self.trigger_price,
                            self.product, self.validity, self.client_order_id, self.tag, self.variety,
                            self.disclosed_quantity)


MAX_BATCH = 100  # orders in one POST /api/oms/orders/batch


def _batch(value: Any) -> Any:
    # The items are checked one by one by the route, each as POST /orders checks its body: a malformed one is an
    # error in its place, not a 422 for the batch.
    if not isinstance(value, list):
        raise ValueError(f"a list of 1 to {MAX_BATCH} orders, each a JSON object as POST /orders takes")
    if not value:
        raise ValueError(f"a list of 1 to {MAX_BATCH} orders, not an empty one")
    if len(value) > MAX_BATCH:
        raise ValueError(f"a list of 1 to {MAX_BATCH} orders, not {len(value)}: send the rest in further batches")
    return value


Batch = Annotated[list[Any], PlainValidator(_batch), WithJsonSchema({
    "type": "array", "items": {"$ref": "#/components/schemas/OrderIn"}, "minItems": 1, "maxItems": MAX_BATCH})]


class BatchIn(_Body):
    """Several orders (``POST /api/oms/orders/batch``): each the JSON of ``POST /api/oms/orders``, placed in turn."""

    orders: Batch


class ModifyIn(_Body):
    """New values for a working order (``PATCH /api/oms/orders/{order_id}``): at least one of them."""

    quantity: Quantity | None = None
    price: Price | None = None
    trigger_price: Price | None = None
    disclosed_quantity: Disclosed | None = None


class CancelAllIn(_Body):
    """Which working orders to cancel (``POST /api/oms/orders/cancel-all``): all, or those of ``symbol``."""

    symbol: StrictStr | None = None
    reason: StrictStr = "cancel all"


class SquareOffIn(_Body):
    """Which positions to close (``POST /api/oms/positions/square-off``): all, or those of ``symbol``."""

    symbol: StrictStr | None = None
    reason: StrictStr = "square off"


class KillSwitchIn(_Body):
    """Halt trading (``POST /api/oms/risk/kill-switch``); ``flatten`` squares off every position too."""

    reason: StrictStr = Field(examples=["stop everything"])
    flatten: StrictBool = False


class ResetIn(_Body):
    """Lift the kill switch (``POST /api/oms/risk/reset``); ``reason`` is recorded."""

    reason: StrictStr = Field(examples=["checked the positions"])


PROGRAM_KINDS = ("bracket", "cover", "trailing", "iceberg")
Points = Annotated[Any, PlainValidator(_number_or_text),
                   WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}], "examples": ["10"]})]


class ProgramIn(_Body):
    """A new order program (``POST /api/oms/programs``), as ``OMS.place_bracket``, ``place_cover``,
    ``place_trailing_stop`` and ``place_iceberg`` take it: ``kind`` says which, and only that method's fields may
    be given (``target`` for a cover order is a 422 naming it). ``order_type`` defaults to LIMIT for a bracket and
    an iceberg, MARKET for a cover order; a trailing stop is an SL-M placed ``trail`` points (or ``trail_percent``
    per cent) from the last price."""

    kind: StrictStr = Field(description=" or ".join(PROGRAM_KINDS), json_schema_extra={"enum": list(PROGRAM_KINDS)})
    symbol: StrictStr = Field(examples=["INFY"])
    side: StrictStr = _choice(Side)
    quantity: Quantity
    order_type: StrictStr | None = Field(default=None, description="MARKET or LIMIT (bracket, cover, iceberg)")
    price: Price | None = Field(default=None, description="a LIMIT entry's (or iceberg leg's) price")
    target: Points | None = Field(default=None, description="bracket: points beyond the entry's first fill price")
    stoploss: Points | None = Field(default=None, description="bracket, cover: points from the entry's first fill")
    trail: Points | None = Field(default=None, description="points a trailing stop keeps from the best price")
    trail_percent: Points | None = Field(default=None, description="or per cent of the best price (0 to 100)")
    legs: Quantity | None = Field(default=None, description="iceberg: 2 to 50 legs")
    product: StrictStr = _choice(Product, Product.MIS)
    validity: StrictStr | None = Field(default=None, description="DAY (bracket, iceberg)")
    client_order_id: StrictStr | None = None
    tag: StrictStr | None = None


# -- responses (documentation; see the module's docstring) --------------------------------------------------------

Money = Annotated[str, Field(description="an exact decimal as a string", examples=["2500.05"])]
Time = Annotated[str, Field(description="ISO 8601 with its zone", examples=["2026-12-04T09:15:00.123456+05:30"])]


class ErrorOut(BaseModel):
    """Every error: a stable ``code``, a ``message``, the ``field`` that was wrong (or null) and a ``hint``."""

    code: str = Field(examples=["INVALID_INPUT"])
    message: str
    field: str | None = Field(examples=["quantity"])
    hint: str | None


class ViolationOut(BaseModel):
    """A failed pre-trade check: its code, its message and the evidence (limit and value)."""

    code: str = Field(examples=["QUANTITY_EXCEEDS_MAXIMUM"])
    message: str
    limit: Any = None
    value: Any = None


class OrderOut(BaseModel):
    """An order, with the fields of the columns of ``OMS.orders()``; ``violations`` in full."""

    order_id: str
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    product: str
    validity: str
    variety: str = Field(examples=["regular"])
    quantity: int
    disclosed_quantity: int = Field(description="shown at a time; 0: all of it")
    price: Money | None
    trigger_price: Money | None
    filled_quantity: int
    average_price: Money | None
    status: str = Field(examples=["FILLED"])
    violations: list[ViolationOut]
    reason: str | None
    tag: str | None
    created_at: Time | None
    updated_at: Time | None


class TradeOut(BaseModel):
    """A fill, with the fields of the columns of ``OMS.trades()``."""

    trade_id: str
    order_id: str
    symbol: str
    product: str
    side: str
    quantity: int
    price: Money
    fees: Money
    ts: Time | None


class PositionOut(BaseModel):
    """A position of the day (flat ones too), with the fields of the columns of ``OMS.positions()``."""

    symbol: str
    product: str
    quantity: int
    average_price: Money
    last_price: Money | None
    realized_pnl: Money
    unrealized_pnl: Money
    fees: Money
    pnl: Money
    bought_quantity: int
    sold_quantity: int
    account: str
    updated_at: Time | None


class CheckOut(BaseModel):
    """One pre-trade check of a dry run."""

    name: str
    code: str
    passed: bool
    value: Any = None
    limit: Any = None
    headroom: Any = None
    message: str
    skipped: bool


class ValidateOut(BaseModel):
    """A dry run: whether every check passed, and each check (nothing is recorded)."""

    passed: bool
    checks: list[CheckOut]


class AlertOut(BaseModel):
    """A risk alert of the session."""

    alert_id: str
    account: str
    ts: Time
    level: str = Field(examples=["WARN", "BREACH"])
    limit_name: str
    symbol: str | None
    value: Money
    limit_value: Money
    message: str


class LimitOut(BaseModel):
    """One limit in use."""

    limit: str
    symbol: str | None
    value: Money
    maximum: Money
    use_pct: float
    level: str | None


class RiskSummaryOut(BaseModel):
    """``OMS.risk_summary()``: trading state, P&L, exposure, each limit in use and the alerts."""

    trading_state: str
    day_pnl: Money
    realized_pnl: Money
    unrealized_pnl: Money
    gross_exposure: Money
    cash: Money
    equity: Money
    limits: list[LimitOut]
    alerts: list[AlertOut]


class TradingStateOut(BaseModel):
    """The trading state after a kill switch or a reset; ``orders`` are a flattening kill switch's square-off
    orders."""

    trading_state: str = Field(examples=["HALTED"])
    orders: list[OrderOut] = []


class StatsOut(BaseModel):
    """``OMS.stats_today()``."""

    model_config = ConfigDict(extra="allow")

    orders_placed: int
    orders_filled: int
    orders_rejected: int
    orders_cancelled: int
    orders_expired: int
    trades: int
    turnover: Money
    fees: Money
    realized_pnl: Money
    unrealized_pnl: Money
    day_pnl: Money
    win_rate: float | None


class StatusOut(BaseModel):
    """``OMS.status()``: backend, broker, feed, trading state, background tasks, writes."""

    model_config = ConfigDict(extra="allow")

    account: str
    backend: str
    durable: bool
    trading_state: str
    read_only: bool
    closed: bool


class ProgramOut(BaseModel):
    """An order program: the columns of ``OMS.programs()`` and ``request``, ``Program.request`` in the fields of
    ``POST /orders``: the entry (bracket, cover), the whole iceberg, or a trailing stop as asked for (its trigger is
    set from the last price when placed: see its order)."""

    program_id: str = Field(examples=["P-1"])
    kind: str = Field(examples=list(PROGRAM_KINDS))
    symbol: str
    side: str
    quantity: int
    status: str = Field(examples=["active", "complete", "cancelled", "rejected"])
    order_type: str
    price: Money | None
    product: str
    target: Money | None
    stoploss: Money | None
    trail: Money | None
    trail_percent: Money | None
    legs: int
    entry_id: str | None
    target_id: str | None
    stop_id: str | None
    order_ids: list[str]
    basis: Money | None
    best: Money | None
    entered: int
    entry_done: bool
    exited: int
    legs_sent: int
    created_at: Time | None
    updated_at: Time | None
    reason: str | None
    request: dict[str, Any]
