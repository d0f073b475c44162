"""Settlement at expiry: open positions in futures and options whose contract has expired are closed by a
settlement trade, and working orders in them are cancelled.

NSE's index derivatives are cash-settled. At the close of the expiry day (15:30 IST, :func:`oms_kit.contracts.
expiry_close`) a future settles at the final settlement price, the underlying's closing price; an option in the money
at its intrinsic value, one out of the money at 0 (it expires worthless). :func:`settle_expiries` books each as an
order tagged ``expiry-settlement`` with its fill (:meth:`OrderManager.settle <oms_kit.orders.OrderManager.settle>`),
stamped at the expiry close, so the trades, the positions' realized P&L, the cash, the stored rows and the events
all include it. Settlements pay no charges and stay off contract notes (:func:`traded`): STT on an exercised option
(0.125 % of its intrinsic value, paid by the buyer) is not modelled.

The underlying's final settlement price is, in this order: the price given (``prices={"NIFTY": 25884.80}``), the
underlying's own last price (an index quoted as a symbol of the OMS), the last price of the future of the same
underlying and expiry (at expiry the future is the index), and for a future its own last price. A position whose
price none of these gives stays open and is reported in :attr:`Settlement.unsettled`.

Who calls it: the risk monitor on the OMS clock (``RiskMonitor.check``), the backtest's runner at the first bar
after an expiry close, and ``OMS.settle_expiries(prices=...)`` by hand. Each first compares the clock with
``OrderManager.settle_due``, the earliest expiry close the account is exposed to, which this module keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from oms_kit.bookkeeping import SETTLEMENT_SUFFIX
from oms_kit.contracts import expiry_close, settlement_price
from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.market.calendar import IST
from oms_kit.models import Order, Product
from oms_kit.orders import OrderManager
from oms_kit.parsing import parse_price
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NO_SETTLEMENT", "Settlement", "Unsettled", "next_settlement", "parse_settlement_prices",
           "settle_expiries", "traded"]

NO_SETTLEMENT = datetime.max.replace(tzinfo=UTC)  # settle_due when the account holds no contract
# How long a position that could not be settled (no price) waits, by default, before the next attempt.
RETRY = timedelta(minutes=1)
_PRICES_ALLOWED = "a mapping of underlying (e.g. 'NIFTY') to its final settlement price, or None"
_PRICE_ALLOWED = "a final settlement price above 0 and at most 1,000,000,000, with at most 8 decimals"


@dataclass(frozen=True, slots=True)
class Unsettled:
    """An open position in an expired contract that could not be settled: no price for its underlying."""

    symbol: str
    product: Product
    quantity: int
    expired_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one run of :func:`settle_expiries` did: the settlement orders (each FILLED, with its trade), the
    working orders it cancelled, and the positions it could not settle."""

    settled: tuple[Order, ...] = ()
    cancelled: tuple[Order, ...] = ()
    unsettled: tuple[Unsettled, ...] = ()


def parse_settlement_prices(prices: object) -> dict[str, Decimal]:
    """``prices`` as ``{underlying: Decimal}``: None is none; otherwise a mapping of non-empty printable texts to
    prices above 0. Raises ConfigError naming the bad key or value."""
    if prices is None:
        return {}
    if not isinstance(prices, Mapping):
        raise ConfigError("prices", prices, _PRICES_ALLOWED)
    parsed: dict[str, Decimal] = {}
    for key, value in prices.items():
        if not isinstance(key, str) or not key.strip() or not key.isprintable() or len(key) > 255:
            raise ConfigError("prices", key, "underlyings as non-empty printable texts, e.g. 'NIFTY'")
        try:
            parsed[key.strip()] = parse_price(value, f"prices[{key!r}]")
        except InvalidOrderError:
            raise ConfigError(f"prices[{key!r}]", value, _PRICE_ALLOWED) from None
    return parsed


def next_settlement(manager: OrderManager) -> datetime:
    """The earliest expiry close of a contract the account holds or has working orders in; :data:`NO_SETTLEMENT`
    when there is none."""
    instruments = manager.instruments
    symbols = {p.symbol for p in manager.ledger.open_positions()}
    symbols.update(o.symbol for o in manager.live.values())
    closes = [close for symbol in symbols
              if (instrument := instruments.get(symbol)) is not None and (close := expiry_close(instrument))]
    return min(closes, default=NO_SETTLEMENT)


def settle_expiries(manager: OrderManager, now: datetime, prices: Mapping[str, object] | None = None, *,
                    strict: bool = False, retry: timedelta = RETRY) -> Settlement:
    """Settle what has expired at ``now``: cancel the working orders in contracts past their expiry close and close
    the open positions in them at their settlement prices (see the module's notes); then time the next settlement
    (``manager.settle_due``).

    ``prices`` gives underlyings' final settlement prices (``{"NIFTY": 25884.8}``). With ``strict``, a position
    without a price raises ConfigError naming ``prices`` and the underlyings needed, before anything changes;
    otherwise it stays open, in :attr:`Settlement.unsettled`, and ``manager.settle_due`` is ``retry`` later
    (a minute by default: a backtest does not search every bar; the risk monitor tries at each run).
    """
    given = parse_settlement_prices(prices)
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    instruments = manager.instruments
    due: list[tuple[str, Product, Instrument, datetime]] = []
    for held in manager.ledger.open_positions():
        instrument = instruments.get(held.symbol)
        close = expiry_close(instrument) if instrument is not None else None
        if close is not None and aware >= close:
            due.append((held.symbol, held.product, instrument, close))  # type: ignore[arg-type]
    priced = [(symbol, product, instrument, close, _final_price(manager, instrument, given))
              for symbol, product, instrument, close in due]
    missing = sorted({instrument.underlying or symbol for symbol, _, instrument, _, found in priced if found is None})
    if strict and missing:
        raise ConfigError("prices", prices, "the final settlement price of " + ", ".join(missing),
                          hint=f"e.g. settle_expiries(prices={{{missing[0]!r}: ...}})")
    cancelled = []
    for order in list(manager.live.values()):
        instrument = instruments.get(order.symbol)
        close = expiry_close(instrument) if instrument is not None else None
        if close is not None and aware >= close:
            cancelled.append(manager.cancel(order.order_id, f"contract {order.symbol} expired at "
                                            f"{close.astimezone(IST):%d %b %Y %H:%M} IST"))
    settled, unsettled = [], []
    for symbol, product, instrument, close, found in priced:
        position = manager.ledger.position(symbol, product)
        if position is None or not position.quantity:
            continue
        if found is None:
            unsettled.append(Unsettled(symbol, product, position.quantity, close,
                                       f"no final settlement price for {instrument.underlying}: give "
                                       f"prices={{{instrument.underlying!r}: ...}} or quote the underlying"))
            continue
        underlying_price, source = found
        price = settlement_price(instrument, underlying_price)
        reason = (f"settled at expiry ({close.astimezone(IST):%d %b %Y %H:%M} IST): {instrument.underlying} final "
                  f"settlement price {underlying_price} ({source})")
        if instrument.is_option:
            reason += (f"; {instrument.instrument_type} {instrument.strike} "
                       + (f"intrinsic value {price}" if price else "out of the money, expires worthless"))
        settled.append(manager.settle(symbol, product, price, close, reason))
    manager.settle_due = aware + retry if unsettled else next_settlement(manager)
    return Settlement(tuple(settled), tuple(cancelled), tuple(unsettled))


def traded(trades: pd.DataFrame) -> pd.DataFrame:
    """``trades`` (a frame with ``trade_id``) without the settlements' trades: what a contract note lists and
    charges (the exchange's settlement is no trade; its trade id ends in ``SETTLEMENT_SUFFIX``)."""
    if trades.empty:
        return trades
    return trades[~trades["trade_id"].astype(str).str.endswith(SETTLEMENT_SUFFIX)]


def _final_price(manager: OrderManager, instrument: Instrument,
                 given: Mapping[str, Decimal]) -> tuple[Decimal, str] | None:
    # The underlying's final settlement price and where it came from (the module's notes give the order).
    underlying = instrument.underlying
    if underlying is None:
        return None
    price = given.get(underlying)
    if price is not None:
        return price, "given"
    last = _last(manager, underlying)
    if last is not None:
        return last, f"the last price of {underlying}"
    # Only symbols with a price can help: a full instrument dump has thousands of contracts not to walk.
    for symbol in {*manager.prices, *(p.symbol for p in manager.ledger.positions)}:
        other = manager.instruments.get(symbol)
        if (other is not None and other.is_future and other.underlying == underlying
                and other.expiry == instrument.expiry and other.exchange == instrument.exchange):
            last = _last(manager, symbol)
            if last is not None:
                return last, f"the last price of {symbol}"
    return None


def _last(manager: OrderManager, symbol: str) -> Decimal | None:
    # The OMS's last quote, else the ledger's mark (a reopened account has its positions' marks, not yet a quote).
    price = manager.prices.get(symbol)
    return price if price is not None else manager.ledger.last_price(symbol)
