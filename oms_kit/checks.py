"""The pre-trade checks: one small measure per rule (see :mod:`oms_kit.check`), the :class:`~oms_kit.check.Check`
built on each, and :func:`default_checks`, all of them in the order their violations are reported.

:class:`~oms_kit.validator.PreTradeValidator` runs them; the measures read the account only through the
:class:`~oms_kit.check.CheckContext` they are given.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, cast

from oms_kit.check import Check, CheckContext, Outcome
from oms_kit.contracts import expiry_close
from oms_kit.errors import ConfigError, DataError
from oms_kit.market.calendar import IST
from oms_kit.models import Order, OrderType, Product, Side, TradingState, Variety, Violation
from oms_kit.session_checks import check_market_hours, check_mis_cutoff

__all__ = ["CHECKS", "VIOLATION_CODES", "check_buying_power", "check_client_order_id", "check_contract_expired",
           "check_daily_loss", "check_disclosed_quantity", "check_gross_exposure", "check_instrument",
           "check_lot_size", "check_market_hours", "check_mis_cutoff", "check_open_orders",
           "check_order_quantity", "check_order_rate", "check_order_value", "check_position_quantity",
           "check_position_value", "check_possible_duplicate", "check_price_collar", "check_product",
           "check_reduce_only", "check_reference_price", "check_tick_size", "check_trading_state", "default_checks"]

# Every code the checks report (the reduce-only and the market-hours checks have two each).
VIOLATION_CODES: Final = frozenset({
    "TRADING_HALTED", "TRADING_STATE_REDUCING", "INSTRUMENT_NOT_FOUND", "MARKET_CLOSED", "PRICE_NOT_ON_TICK",
    "QUANTITY_NOT_LOT_MULTIPLE", "QUANTITY_EXCEEDS_MAXIMUM", "NOTIONAL_EXCEEDS_MAXIMUM", "PRICE_OUTSIDE_COLLAR",
    "NO_REFERENCE_PRICE", "DUPLICATE_CLIENT_ORDER_ID", "POSSIBLE_DUPLICATE", "RATE_LIMIT_EXCEEDED",
    "MAX_OPEN_ORDERS", "POSITION_LIMIT_EXCEEDED", "GROSS_EXPOSURE_EXCEEDED", "INSUFFICIENT_FUNDS",
    "DAILY_LOSS_LIMIT", "REDUCE_ONLY_WOULD_INCREASE_POSITION", "AMO_MARKET_OPEN", "MIS_CUTOFF", "CONTRACT_EXPIRED",
    "PRODUCT_NOT_ALLOWED", "DISCLOSED_QUANTITY",
})  # fmt: skip

_ONE_SECOND: Final = timedelta(seconds=1)
_PERCENT: Final = Decimal("0.01")
# Enum members as module globals: `Side.BUY` goes through the enum metaclass, ten times slower than a global.
_BUY: Final = Side.BUY
_MARKET: Final = OrderType.MARKET
_SL_M: Final = OrderType.SL_M
_CNC: Final = Product.CNC
_MIS: Final = Product.MIS
_HALTED: Final = TradingState.HALTED
_REDUCING: Final = TradingState.REDUCING
_NO_LIMIT: Final = "no limit is set"
_AMO: Final = Variety.AMO
_NO_INSTRUMENT: Final = "the instrument is not known"
_NO_REFERENCE: Final = "the order has no reference price"
_NOT_OPENING: Final = "the order does not add exposure"
_DERIVATIVES: Final = frozenset({"FUT", "CE", "PE"})  # margined by the portfolio margin, not order by order
_NO_EXPIRY: Final = "the instrument does not expire"
# The products a future or an option may be traded in: intraday and carry-forward, not delivery (as Kite's NRML).
_FNO_PRODUCTS: Final = frozenset({Product.MIS, Product.NRML})
_FNO_PRODUCT_TEXT: Final = "MIS or NRML"
# The disclosed quantity (NSE's DQ: the part of an order the exchange shows at a time). What brokers publish of
# the exchange's rule, which the check follows:
# - at least 10% of the order's quantity for NSE and BSE equity, and at most the quantity: Zerodha's support
#   article "What is the disclosed quantity feature and how to use it?" (support.zerodha.com), Upstox's "What is a
#   Disclosed quantity order?" (help.upstox.com, article 251374), Geojit's of the same title (support.geojit.com);
# - not for futures and options (NSE and BSE F&O): all three; Zerodha points to iceberg orders instead;
# - for limit orders only, market orders do not take one: a broker-independent knowledge base (WebNotes, "Disclosed
#   quantity orders", v2.webnotes.in), the one source found that says so. An order that takes the book at once
#   (MARKET, and SL-M once triggered) never rests there to be shown in part; LIMIT and SL orders rest at a price.
# Not checked: "not in the pre-open and post-close sessions" (Upstox, Geojit), as this account places orders only
# in the normal market or as after-market orders sent out at the open.
_DISCLOSED_SHARE: Final = 10  # percent of the quantity, at least
_DISCLOSED_TYPES: Final = frozenset({OrderType.LIMIT, OrderType.SL})
_ALL_SHOWN: Final = "the order is shown in full (disclosed quantity 0)"


# --- shared measurements (each reads the context only when called) ---


def _reference_price(order: Order, ctx: CheckContext) -> Decimal | None:
    # The price the order is valued at: its limit price (LIMIT, SL), its trigger (SL-M), the market (MARKET).
    order_type = order.order_type
    if order_type is _MARKET:
        return ctx.last_price
    if order_type is _SL_M:
        return order.trigger_price
    return order.price


def _projection(order: Order, ctx: CheckContext) -> tuple[int, int]:
    """(position as if the working orders on the order's side filled, the part of this order that opens exposure).

    Working orders on the *same* side count, so two reducing orders together cannot flip the position; working
    orders on the other side are ignored, as they could be cancelled. A flip through zero opens the part beyond it.
    """
    quantity = order.quantity
    if order.side is _BUY:
        before = ctx.position_quantity + ctx.working_buy_quantity
        opening = quantity if before >= 0 else quantity + before
    else:
        before = ctx.position_quantity - ctx.working_sell_quantity
        opening = quantity if before <= 0 else quantity - before
    return before, opening if opening > 0 else 0


def _after(order: Order, before: int) -> int:
    # |position| once this order and the working orders on its side have filled.
    after = before + order.quantity if order.side is _BUY else before - order.quantity
    return after if after >= 0 else -after


# --- the checks, in the order they are reported ---


def _trading_state(order: Order, ctx: CheckContext) -> Outcome:
    state = ctx.trading_state  # a StrEnum, so it is also its plain string value
    if state is _HALTED:
        # The check sees the state, not who halted it: the wording names every source.
        return Violation("TRADING_HALTED", "trading is halted (the kill switch, a risk limit, or a reconciliation "
                         "waiting to be accepted): new orders are refused until it is resumed", None, state)
    return state, None


def _reduce_only(order: Order, ctx: CheckContext) -> Outcome:
    if ctx.trading_state is not _REDUCING:
        return "trading state is not REDUCING"
    # Brokers keep a position per product: a reduce-only order closes the position of its own product.
    position = ctx.product_position_quantity(order.product)
    if position == 0:
        return Violation("TRADING_STATE_REDUCING", f"trading state is REDUCING: only orders that shrink a position are "
                         f"accepted, and the {order.symbol} {order.product.value} position is flat", 0, order.quantity)
    before = position + (ctx.working_buy_quantity if order.side is _BUY else -ctx.working_sell_quantity)
    # How much this order may trade without crossing zero, counting working orders on its side.
    reducible = -before if order.side is _BUY else before
    if reducible < 0:
        reducible = 0
    if order.quantity > reducible:
        return Violation(
            "REDUCE_ONLY_WOULD_INCREASE_POSITION",
            f"trading state is REDUCING: {order.side.value} {order.quantity} would increase the {order.symbol} "
            f"position {position} or flip it through zero; at most {reducible} may be traded on this side "
            f"(working {order.side.value} orders included)",
            reducible, order.quantity,
        )
    return order.quantity, reducible


def _instrument(order: Order, ctx: CheckContext) -> Outcome:
    if ctx.instrument is None:
        return Violation("INSTRUMENT_NOT_FOUND", f"instrument {order.symbol} is not known; add it with "
                         "instruments=[Instrument(...)]", None, order.symbol)
    return order.symbol, None


def _contract_expired(order: Order, ctx: CheckContext) -> Outcome:
    # A future or an option trades until 15:30 IST on its expiry day (oms_kit.contracts); from then on it is
    # settled, and an order for it, opening or closing, has nothing to trade. Cash equity returns at once, without
    # reading the clock.
    instrument = ctx.instrument
    if instrument is None or instrument.expiry is None:
        return _NO_EXPIRY
    close: datetime = expiry_close(instrument)  # type: ignore[assignment]
    now = ctx.now
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)  # naive is UTC
    if aware >= close:
        # Times as ISO texts in IST, as the market-hours check gives them: a violation is stored as JSON.
        closing, when = close.astimezone(IST), aware.astimezone(IST)
        return Violation("CONTRACT_EXPIRED", f"{order.symbol} expired at the close of its expiry day, "
                         f"{closing:%a %d %b %Y %H:%M} IST; it is {when:%a %d %b %Y %H:%M:%S} IST: trade a later "
                         "expiry", closing.isoformat(), when.isoformat(timespec="seconds"))
    return aware, close  # the datetimes, unformatted: an order that passes pays no formatting (2 us each)


def _product(order: Order, ctx: CheckContext) -> Outcome:
    # Futures and options are intraday (MIS) or carried forward (NRML); delivery (CNC) is for cash equity.
    instrument = ctx.instrument
    if instrument is None or instrument.instrument_type == "EQ":
        return "cash equity takes every product"
    product = order.product
    if product not in _FNO_PRODUCTS:
        return Violation("PRODUCT_NOT_ALLOWED", f"product {product.value} is not allowed for {order.symbol}, a "
                         f"{instrument.instrument_type} contract: use {_FNO_PRODUCT_TEXT}", _FNO_PRODUCT_TEXT,
                         product.value)
    return product.value, _FNO_PRODUCT_TEXT


def _disclosed_quantity(order: Order, ctx: CheckContext) -> Outcome:
    # The rules above, in that order. An order without one (nearly all) pays one test.
    disclosed = order.disclosed_quantity
    if not disclosed:
        return _ALL_SHOWN
    instrument = ctx.instrument
    if instrument is not None and instrument.instrument_type != "EQ":
        return Violation("DISCLOSED_QUANTITY", f"disclosed quantity {disclosed} is not allowed for {order.symbol}, a "
                         f"{instrument.instrument_type} contract: NSE takes one in the equity segment only; give 0",
                         0, disclosed)
    if order.order_type not in _DISCLOSED_TYPES:
        return Violation("DISCLOSED_QUANTITY", f"disclosed quantity {disclosed} is not allowed for a "
                         f"{order.order_type.value} order, which takes the book at once: only LIMIT and SL orders, "
                         "which rest at their price, show part of themselves; give 0", 0, disclosed)
    quantity = order.quantity
    if disclosed > quantity:
        return Violation("DISCLOSED_QUANTITY", f"disclosed quantity {disclosed} is more than the quantity {quantity}",
                         quantity, disclosed)
    minimum = -(-quantity * _DISCLOSED_SHARE // 100)  # 10% rounded up: the least whole number that is not below
    if disclosed < minimum:
        return Violation("DISCLOSED_QUANTITY", f"disclosed quantity {disclosed} is below {_DISCLOSED_SHARE}% of the "
                         f"quantity {quantity}: at least {minimum}, or 0 to show all of it", minimum, disclosed)
    return disclosed, minimum


def _tick_size(order: Order, ctx: CheckContext) -> Outcome:
    instrument = ctx.instrument
    if instrument is None:
        return _NO_INSTRUMENT
    if order.price is None and order.trigger_price is None:
        return "the order has no price"
    tick = instrument.tick_size
    # Never round a user's price: off-tick is a violation, so the order trades at exactly the price asked for.
    price, trigger = order.price, order.trigger_price
    if price is not None and price % tick:
        return Violation("PRICE_NOT_ON_TICK", f"price {price} is not a multiple of the tick size {tick}", tick, price)
    if trigger is not None and trigger % tick:
        return Violation("PRICE_NOT_ON_TICK", f"trigger price {trigger} is not a multiple of the tick size {tick}",
                         tick, trigger)
    return (price if price is not None else trigger), tick


def _lot_size(order: Order, ctx: CheckContext) -> Outcome:
    instrument = ctx.instrument
    if instrument is None:
        return _NO_INSTRUMENT
    lot = instrument.lot_size
    if order.quantity % lot != 0:
        return Violation("QUANTITY_NOT_LOT_MULTIPLE", f"quantity {order.quantity} is not a multiple of the lot size "
                         f"{lot}", lot, order.quantity)
    return order.quantity, lot


def _order_quantity(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.max_order_quantity
    instrument = ctx.instrument
    freeze = instrument.freeze_quantity if instrument is not None else None
    if maximum is None and freeze is None:
        return _NO_LIMIT
    # The smaller limit is the one that binds (and the one named when both are exceeded).
    if freeze is not None and (maximum is None or freeze < maximum):
        limit, what = freeze, "the exchange freeze quantity"
    else:
        limit, what = cast(int, maximum), "the maximum order quantity"  # not both None (returned above)
    if order.quantity > limit:
        return Violation("QUANTITY_EXCEEDS_MAXIMUM", f"quantity {order.quantity} exceeds {what} {limit}", limit,
                         order.quantity)
    return order.quantity, limit


def _order_value(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.max_order_value
    if maximum is None:
        return _NO_LIMIT
    price = _reference_price(order, ctx)
    if price is None:
        return _NO_REFERENCE
    value = order.quantity * price
    if value > maximum:
        return Violation("NOTIONAL_EXCEEDS_MAXIMUM", f"order value {value:.2f} exceeds the maximum {maximum:.2f}",
                         maximum, value)
    return value, maximum


def _price_collar(order: Order, ctx: CheckContext) -> Outcome:
    collar = ctx.limits.price_collar_pct
    if collar is None:
        return _NO_LIMIT
    if order.price is None and order.trigger_price is None:
        return "the order has no price"
    last = ctx.last_price
    if last is None:
        return "there is no last price"
    # Measured in price units, distance from the last price against the band the collar allows: exact (no
    # division), and the headroom reads as "so much further the price may go".
    band = collar * last * _PERCENT
    price, trigger = order.price, order.trigger_price
    field_name, worst = "price", price
    if price is None or (trigger is not None and abs(trigger - last) > abs(price - last)):
        field_name, worst = "trigger price", trigger
    distance = abs(cast(Decimal, worst) - last)  # trigger when there is no price: one is set (returned above)
    if distance > band:
        return Violation("PRICE_OUTSIDE_COLLAR", f"{field_name} {worst} is {distance} ({distance / last:.2%}) from "
                         f"the last price {last}, outside the collar of {collar}% ({band})", band, distance)
    return distance, band


def _reference_price_known(order: Order, ctx: CheckContext) -> Outcome:
    if order.order_type is not _MARKET:
        return "only MARKET orders need a last price"
    last = ctx.last_price
    if last is None:
        return Violation("NO_REFERENCE_PRICE", f"a MARKET order for {order.symbol} needs a last price to be valued "
                         "and there is none yet; set a price or place a LIMIT order", None, None)
    return last, None


def _client_order_id(order: Order, ctx: CheckContext) -> Outcome:
    # The OMS answers an identical retry with the existing order before validating, so a known id here belongs to
    # an order with another payload.
    client_order_id = order.client_order_id
    if not client_order_id:
        return "the order has no client order id"
    if ctx.client_order_id_exists(client_order_id):
        return Violation("DUPLICATE_CLIENT_ORDER_ID", f"client order id {client_order_id} is already used by an "
                         "order with different details; use a new id", None, client_order_id)
    return client_order_id, None


def _possible_duplicate(order: Order, ctx: CheckContext) -> Outcome:
    window = ctx.limits.duplicate_window_s
    if window is None:
        return _NO_LIMIT
    placed = ctx.last_similar_order_time(order.symbol, order.side, order.quantity, order.price)
    if placed is None:
        return None, window
    elapsed = (ctx.now - placed).total_seconds()
    # Strictly inside the window: a strategy on 1-second bars may repeat an order every bar.
    if elapsed < window:
        return Violation("POSSIBLE_DUPLICATE", f"an order with the same symbol, side, quantity and price was placed "
                         f"{elapsed:.3f} s ago, within the duplicate window of {window} s", window, elapsed)
    return elapsed, window


def _order_rate(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.max_orders_per_second
    if maximum is None:
        return _NO_LIMIT
    now = ctx.now
    times = ctx.recent_order_times
    # Orders in the sliding second (now - 1 s, now]; the times are sorted, so two bisections count them.
    count = bisect_right(times, now) - bisect_right(times, now - _ONE_SECOND) + 1
    if count > maximum:
        return Violation("RATE_LIMIT_EXCEEDED", f"this would be order {count} in the last second; the maximum is "
                         f"{maximum} per second", maximum, count)
    return count, maximum


def _open_orders(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.max_open_orders
    if maximum is None:
        return _NO_LIMIT
    count = ctx.open_order_count + 1
    if count > maximum:
        return Violation("MAX_OPEN_ORDERS", f"this would be open order {count}; the maximum is {maximum}", maximum,
                         count)
    return count, maximum


def _position_quantity(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.max_position_quantity
    if maximum is None:
        return _NO_LIMIT
    before, opening = _projection(order, ctx)
    if opening == 0:
        return _NOT_OPENING
    after = _after(order, before)
    if after > maximum:
        return Violation("POSITION_LIMIT_EXCEEDED", f"the {order.symbol} position would reach {after} (working orders "
                         f"included), above the maximum {maximum}", maximum, after)
    return after, maximum


def _position_value(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.max_position_value
    if maximum is None:
        return _NO_LIMIT
    price = _reference_price(order, ctx)
    if price is None:
        return _NO_REFERENCE
    before, opening = _projection(order, ctx)
    if opening == 0:
        return _NOT_OPENING
    value = _after(order, before) * price
    if value > maximum:
        return Violation("POSITION_LIMIT_EXCEEDED", f"the {order.symbol} position would be worth {value:.2f} at "
                         f"{price} (working orders included), above the maximum {maximum:.2f}", maximum, value)
    return value, maximum


def _gross_exposure(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.max_gross_exposure
    if maximum is None:
        return _NO_LIMIT
    price = _reference_price(order, ctx)
    if price is None:
        return _NO_REFERENCE
    _, opening = _projection(order, ctx)
    if opening == 0:
        return _NOT_OPENING
    added = opening * price  # the part that closes a position lowers exposure, so only the opening part counts
    gross = ctx.gross_exposure
    value = gross + added
    if value > maximum:
        return Violation("GROSS_EXPOSURE_EXCEEDED", f"gross exposure would be {value:.2f} ({gross:.2f} now + "
                         f"{added:.2f} for this order), above the maximum {maximum:.2f}", maximum, value)
    return value, maximum


def _buying_power(order: Order, ctx: CheckContext) -> Outcome:
    instrument = ctx.instrument
    if instrument is not None and instrument.instrument_type in _DERIVATIVES:  # equities pay this one test
        return _derivative_buying_power(order, ctx)
    price = _reference_price(order, ctx)
    if price is None:
        return _NO_REFERENCE
    _, opening = _projection(order, ctx)
    if opening == 0:
        return _NOT_OPENING
    # Delivery (CNC) is paid in full; intraday and carry-forward products are margined.
    value = opening * price
    required = value if order.product is _CNC else value / ctx.limits.mis_leverage
    available = ctx.available_funds
    if required > available:
        return Violation("INSUFFICIENT_FUNDS", f"the order needs {required:.2f} ({order.product.value}), more than "
                         f"the available funds {available:.2f}", available, required)
    return required, available


def _derivative_buying_power(order: Order, ctx: CheckContext) -> Outcome:
    # Futures and options: what the order adds to the account's portfolio margin (below 0 for a hedge or a close),
    # plus the premium of an option bought, must fit the free cash (oms_kit.account_margin).
    try:
        margin = ctx.order_margin()
    except DataError as error:
        return Violation("NO_REFERENCE_PRICE", f"{order.symbol} cannot be margined: {error.detail or error.allowed}"
                         + (f"; {error.hint}" if error.hint else ""), None, error.value)
    except ConfigError as error:  # an expired contract: the contract check refuses it
        return f"{order.symbol} cannot be margined: {error.allowed}"
    required, available = margin.required, margin.available
    if required > 0 and required > available:
        return Violation("INSUFFICIENT_FUNDS", f"the order needs {required:.2f} ({margin.describe()}), more than the "
                         f"available funds {available:.2f}", available, required)
    return required, available


def _daily_loss(order: Order, ctx: CheckContext) -> Outcome:
    maximum = ctx.limits.daily_loss_limit
    if maximum is None:
        return _NO_LIMIT
    # Position first: it is cheap, and day P&L (marks every position) is then read only for opening orders.
    _, opening = _projection(order, ctx)
    if opening == 0:
        return _NOT_OPENING
    loss = -ctx.day_pnl
    if loss >= maximum:
        return Violation("DAILY_LOSS_LIMIT", f"the day's loss {loss:.2f} has reached the daily loss limit "
                         f"{maximum:.2f}; only orders that reduce a position are accepted", maximum, loss)
    return loss, maximum


check_trading_state = Check("trading_state", "TRADING_HALTED", _trading_state, "trading state is {value}",
                            only_in=_HALTED)
check_reduce_only = Check("reduce_only", "REDUCE_ONLY_WOULD_INCREASE_POSITION", _reduce_only,
                          "quantity {value} reduces the position (at most {limit})", has_headroom=True,
                          only_in=_REDUCING)
check_instrument = Check("instrument", "INSTRUMENT_NOT_FOUND", _instrument, "{value} is a known instrument")
check_contract_expired = Check("contract_expired", "CONTRACT_EXPIRED", _contract_expired,
                               "{value:%d %b %Y %H:%M:%S %Z} is before the contract's expiry, "
                               "{limit:%d %b %Y %H:%M %Z}")
check_product = Check("product", "PRODUCT_NOT_ALLOWED", _product, "product {value} is allowed ({limit})")
check_disclosed_quantity = Check("disclosed_quantity", "DISCLOSED_QUANTITY", _disclosed_quantity,
                                 "disclosed quantity {value} is at least {limit}, 10% of the quantity, and at most "
                                 "all of it")
check_tick_size = Check("tick_size", "PRICE_NOT_ON_TICK", _tick_size, "prices are on the tick size {limit}")
check_lot_size = Check("lot_size", "QUANTITY_NOT_LOT_MULTIPLE", _lot_size,
                       "quantity {value} is a multiple of the lot size {limit}")
check_order_quantity = Check("max_order_quantity", "QUANTITY_EXCEEDS_MAXIMUM", _order_quantity,
                             "quantity {value} is within the maximum {limit}", has_headroom=True)
check_order_value = Check("max_order_value", "NOTIONAL_EXCEEDS_MAXIMUM", _order_value,
                          "order value {value:.2f} is within the maximum {limit:.2f}", has_headroom=True,
                          limit_fields=("max_order_value",))
check_price_collar = Check("price_collar", "PRICE_OUTSIDE_COLLAR", _price_collar,
                           "price is {value} from the last price, within the collar band of {limit}", has_headroom=True,
                           limit_fields=("price_collar_pct",))
check_reference_price = Check("reference_price", "NO_REFERENCE_PRICE", _reference_price_known,
                              "last price {value} values the order")
check_client_order_id = Check("client_order_id", "DUPLICATE_CLIENT_ORDER_ID", _client_order_id,
                              "client order id {value} is new")
check_possible_duplicate = Check("possible_duplicate", "POSSIBLE_DUPLICATE", _possible_duplicate,
                                 "no similar order within the last {limit} s", limit_fields=("duplicate_window_s",))
check_order_rate = Check("max_orders_per_second", "RATE_LIMIT_EXCEEDED", _order_rate,
                         "order {value} in the last second, within {limit} per second", has_headroom=True,
                         limit_fields=("max_orders_per_second",))
check_open_orders = Check("max_open_orders", "MAX_OPEN_ORDERS", _open_orders,
                          "open order {value}, within the maximum {limit}", has_headroom=True,
                          limit_fields=("max_open_orders",))
check_position_quantity = Check("max_position_quantity", "POSITION_LIMIT_EXCEEDED", _position_quantity,
                                "position {value} is within the maximum {limit}", has_headroom=True,
                                limit_fields=("max_position_quantity",))
check_position_value = Check("max_position_value", "POSITION_LIMIT_EXCEEDED", _position_value,
                             "position value {value:.2f} is within the maximum {limit:.2f}", has_headroom=True,
                             limit_fields=("max_position_value",))
check_gross_exposure = Check("max_gross_exposure", "GROSS_EXPOSURE_EXCEEDED", _gross_exposure,
                             "gross exposure {value:.2f} is within the maximum {limit:.2f}", has_headroom=True,
                             limit_fields=("max_gross_exposure",))
check_buying_power = Check("buying_power", "INSUFFICIENT_FUNDS", _buying_power,
                           "required funds {value:.2f} are within the available {limit:.2f}", has_headroom=True)
check_daily_loss = Check("daily_loss_limit", "DAILY_LOSS_LIMIT", _daily_loss,
                         "day's loss {value:.2f} is below the limit {limit:.2f}", has_headroom=True,
                         limit_fields=("daily_loss_limit",))


def default_checks() -> tuple[Check, ...]:
    """Every check, in the order their violations are reported."""
    return (
        check_trading_state, check_reduce_only, check_instrument, check_contract_expired, check_product,
        check_market_hours, check_mis_cutoff,
        check_tick_size, check_lot_size, check_disclosed_quantity,
        check_order_quantity, check_order_value, check_price_collar, check_reference_price, check_client_order_id,
        check_possible_duplicate, check_order_rate, check_open_orders, check_position_quantity, check_position_value,
        check_gross_exposure, check_buying_power, check_daily_loss,
    )  # fmt: skip


CHECKS = default_checks()
