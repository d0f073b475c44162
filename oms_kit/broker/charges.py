"""Charges on NSE trades by trade date and segment, from the dated rate table of :mod:`oms_kit.broker.rates`.

Three ways in:

* :func:`charges` prices one fill of one segment on one trade date, each charge rounded half up to the paisa.
* :class:`NseFees` is a fee model with the broker's call shape (``fees(side, product, quantity, price,
  prior_turnover=...)``) plus optional keywords: ``trade_date`` and ``instrument``, which the mock broker passes with
  each fill, and ``symbol``. Futures and options follow from the instrument (:func:`fill_segment`: FUT, CE, PE),
  or from ``segment_of(symbol)``, a resolver the caller may supply; equity from the product (CNC: delivery; MIS and
  NRML: intraday).
* :func:`contract_note` adds up a day's trades per segment the way a contract note does: brokerage per executed
  order, every other charge on the segment's day totals, STT rounded to the rupee.

Brokerage is charged per executed order (a cap, or a flat fee, paid once however many fills the order has): a fill
passes ``prior_turnover``, the traded value of its order's earlier fills, and pays only what the order owes beyond
them. NSE's Investor Protection Fund Trust charge (IPFT) is billed with the exchange charges and bears GST; it is
its own line here, and ``ipft=False`` leaves it out (the figures of :class:`~oms_kit.broker.fees.IndiaEquityFees`).

Arithmetic is exact: prices and rates become fractions of integers and each charge is rounded once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, ClassVar

from oms_kit.broker.paise import paise as _paise
from oms_kit.broker.paise import rupee_paise as _rupee_paise
from oms_kit.broker.rates import CHARGES, RateTable, Segment, SegmentRates, default_rate_table, to_trade_date
from oms_kit.errors import ConfigError, DataError, InvalidOrderError
from oms_kit.models import Product, Side
from oms_kit.parsing import MAX_PRICE, MAX_QUANTITY
from oms_kit.tradable import Instrument

__all__ = ["NseFees", "charges", "contract_note", "fill_segment"]

_ZERO = Decimal("0.00")
_MAX_TURNOVER = MAX_PRICE * MAX_QUANTITY
_NOTE_COLUMNS = ("buy_value", "sell_value", *CHARGES, "total_charges")


def _segment(value: object) -> Segment:
    if isinstance(value, Segment):
        return value
    if isinstance(value, str):
        try:
            return Segment(value.strip().lower())
        except ValueError:
            pass
    raise ConfigError("segment", value, ", ".join(s.value for s in Segment))


def _side(value: object) -> Side:
    try:
        return Side.parse(value, "side")
    except InvalidOrderError:
        raise ConfigError("side", value, "BUY or SELL") from None


def _quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_QUANTITY:
        raise ConfigError("quantity", value, f"a whole number (int) from 1 to {MAX_QUANTITY:,}")
    return value


def _amount(value: object, field: str, low: Decimal, high: Decimal, strict_low: bool) -> Decimal:
    # Decimal, int or a numeric string; a float goes through str() so 0.1 stays 0.1.
    number = Decimal("NaN")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        with suppress(InvalidOperation):
            number = Decimal(str(value).strip())
    if not number.is_finite() or number > high or number < low or (strict_low and number == low):
        bound = "above" if strict_low else "from"
        raise ConfigError(field, value, f"a finite number {bound} {low} and at most {high:,}")
    return number


_VALUE_CHARGES = ("stt", "exchange_transaction_charge", "ipft", "sebi_fee", "stamp_duty")


def _fill_paise(rates: SegmentRates, buy: bool, quantity: int, price: Decimal, prior: Decimal,
                ipft: bool) -> dict[str, int]:
    price_num, price_den = price.as_integer_ratio()
    value = price_num * quantity  # rupees: value / price_den
    ratios, paid = rates.ratios, rates.buy if buy else rates.sell
    paise = {"brokerage": _brokerage(rates, value, price_den, prior) if "brokerage" in paid else 0}
    for charge in _VALUE_CHARGES:
        if charge != "ipft" or ipft:
            paise[charge] = _paise(value, price_den, ratios[charge]) if charge in paid else 0
    base = sum(paise.get(name, 0) for name in rates.rows["gst"].basis.split("+"))
    paise["gst"] = _paise(base, 100, ratios["gst"]) if "gst" in paid else 0
    return paise


def _brokerage(rates: SegmentRates, value: int, value_den: int, prior: Decimal) -> int:
    rate = rates.ratios["brokerage"]
    if rates.rows["brokerage"].basis == "rupees_per_order":
        return _paise(*rate, (1, 1)) if not prior else 0  # flat: the order's first fill pays it
    cap_ratio = rates.ratios.get("brokerage_cap")
    cap = _paise(*cap_ratio, (1, 1)) if cap_ratio is not None else None

    def owed(num: int, den: int) -> int:
        # Rounding keeps order, so rounding the smaller of cap and charge is the smaller of the two rounded.
        charge = _paise(num, den, rate)
        return charge if cap is None else min(cap, charge)

    if not prior:
        return owed(value, value_den)
    prior_num, prior_den = prior.as_integer_ratio()
    return owed(prior_num * value_den + value * prior_den, prior_den * value_den) - owed(prior_num, prior_den)


def charges(segment: Segment | str, side: Side | str, quantity: int, price: Decimal | int | str,
            trade_date: date, *, prior_turnover: Decimal | int | str = _ZERO, table: RateTable | None = None,
            ipft: bool = True) -> dict[str, Decimal]:
    """The charges of one fill, by name, at the rates in force on its trade date.

    Parameters
    ----------
    segment
        A :class:`~oms_kit.broker.rates.Segment` or its value (``"equity_delivery"``, ``"equity_intraday"``,
        ``"futures"``, ``"options"``).
    side
        BUY or SELL.
    quantity
        Units filled (an option's quantity in units, not lots), an int from 1 to ``MAX_QUANTITY``.
    price
        Traded price; for options, the premium.
    trade_date
        A ``date``, or a ``datetime`` (an aware one is taken in India's time zone).
    prior_turnover
        Traded value of the same order's earlier fills; the brokerage cap or flat fee is paid once per order.
    table
        The rate table; the shipped one by default.
    ipft
        Include NSE's IPFT charge (and its GST), as brokers bill it.

    Returns
    -------
    dict[str, Decimal]
        ``brokerage``, ``stt``, ``exchange_transaction_charge``, ``ipft`` (unless ``ipft=False``), ``sebi_fee``,
        ``stamp_duty`` and ``gst``, each rounded half up to the paisa.

    Raises
    ------
    ConfigError
        A bad argument, naming it, its value and what is allowed; a trade date the table does not cover.
    """
    segment, side = _segment(segment), _side(side)
    quantity = _quantity(quantity)
    price = _amount(price, "price", Decimal(0), MAX_PRICE, True)
    prior = _amount(prior_turnover, "prior_turnover", Decimal(0), _MAX_TURNOVER, False)
    if not isinstance(ipft, bool):
        raise ConfigError("ipft", ipft, "True or False")
    rates = (table if table is not None else default_rate_table()).rates_on(segment, to_trade_date(trade_date))
    paise = _fill_paise(rates, side is Side.BUY, quantity, price, prior, ipft)
    return {name: Decimal(value).scaleb(-2) for name, value in paise.items()}


_KIND_SEGMENTS = {"FUT": Segment.FUTURES, "CE": Segment.OPTIONS, "PE": Segment.OPTIONS}


def fill_segment(product: Product | str, instrument: Instrument | None = None) -> Segment:
    """The segment whose rates a fill pays, from its instrument and product.

    A future (``instrument_type`` FUT) is ``futures`` and an option (CE, PE) ``options``, whatever the product;
    cash equity (EQ, or no instrument) is ``equity_delivery`` under CNC and ``equity_intraday`` under MIS or NRML.

    Raises
    ------
    ConfigError
        ``product`` is not CNC, MIS or NRML, or ``instrument`` is not an Instrument (nor None).
    """
    if instrument is not None:
        if not isinstance(instrument, Instrument):
            raise ConfigError("instrument", instrument, "an Instrument, or None for cash equity")
        found = _KIND_SEGMENTS.get(instrument.instrument_type)
        if found is not None:
            return found
    return Segment.EQUITY_DELIVERY if _product(product) is Product.CNC else Segment.EQUITY_INTRADAY


def _product(value: object) -> Product:
    if type(value) is Product:
        return value
    try:
        return Product.parse(value, "product")
    except InvalidOrderError as error:
        raise ConfigError("product", value, error.allowed) from None


@dataclass(frozen=True, slots=True)
class NseFees:
    """A fee model for NSE trades that prices each fill at the rates of its trade date and segment.

    It answers the broker's call (``fees(side, product, quantity, price, prior_turnover=...)``) and takes three
    optional keywords more: ``trade_date`` and ``instrument``, which :class:`~oms_kit.broker.mock.MockBroker`
    passes with every fill, and ``symbol``, for a resolver.

    The segment (:meth:`segment`) is the instrument's when it is a future or an option (:func:`fill_segment`);
    otherwise ``segment_of(symbol)`` decides when given (a symbol traded on a stand-in instrument, as a backtest
    gives symbols missing from the instrument list), and the product last: CNC delivery, MIS and NRML intraday.

    Parameters
    ----------
    trade_date
        The date to price fills at when a call gives none; None prices them at the table's latest rates (those in
        force from :attr:`RateTable.latest_change <oms_kit.broker.rates.RateTable.latest_change>` on). The
        broker gives each fill's own date.
    segment_of
        ``segment_of(symbol)`` returns ``"futures"``, ``"options"`` (or a Segment) for a derivative and None for a
        cash-market symbol, whose segment then follows from the product. Asked only when the instrument (if any) is
        cash equity.
    table
        The rate table; the shipped one by default.
    ipft
        Include NSE's IPFT charge. ``False`` gives the figures of
        :class:`~oms_kit.broker.fees.IndiaEquityFees` for equity on and after 1 October 2024.
    """

    name: ClassVar[str] = "nse"

    trade_date: date | None = None
    segment_of: Callable[[str], Segment | str | None] | None = None
    table: RateTable | None = None
    ipft: bool = True

    def __post_init__(self) -> None:
        if self.trade_date is not None:
            object.__setattr__(self, "trade_date", to_trade_date(self.trade_date))
        if self.segment_of is not None and not callable(self.segment_of):
            raise ConfigError("segment_of", self.segment_of, "a function of a symbol, or None")
        if self.table is not None and not isinstance(self.table, RateTable):
            raise ConfigError("table", self.table, "a RateTable, or None for the shipped one")
        if not isinstance(self.ipft, bool):
            raise ConfigError("ipft", self.ipft, "True or False")

    def segment(self, product: Product | str, symbol: str | None = None,
                instrument: Instrument | None = None) -> Segment:
        """The segment of a fill: the instrument's for a future or an option, else the resolver's answer for
        ``symbol`` (the instrument's symbol when none is given), else delivery for CNC and intraday otherwise.

        Raises
        ------
        ConfigError
            A bad product or instrument, or a resolver answering something other than a segment or None.
        """
        equity = fill_segment(product, instrument)
        if equity is Segment.FUTURES or equity is Segment.OPTIONS:
            return equity
        if symbol is None and instrument is not None:
            symbol = instrument.symbol
        if symbol is not None and self.segment_of is not None:
            found = self.segment_of(symbol)
            if found is not None:
                try:
                    return _segment(found)
                except ConfigError:
                    raise ConfigError("segment_of", found, ", ".join(s.value for s in Segment) + " or None",
                                      detail=f"the resolver's answer for {symbol!r}") from None
        return equity

    def breakdown(self, side: Side, product: Product, quantity: int, price: Decimal, *,
                  prior_turnover: Decimal = _ZERO, trade_date: date | None = None,
                  instrument: Instrument | None = None, symbol: str | None = None) -> dict[str, Decimal]:
        """The charges of one fill by name, as :func:`charges` gives them.

        Parameters
        ----------
        side, quantity, price, prior_turnover
            As for :func:`charges`; an option's price is its premium.
        product
            CNC, MIS or NRML: the equity segment when the instrument is not a derivative.
        trade_date
            The fill's date (or timestamp); the model's ``trade_date`` or latest rates when None.
        instrument
            The instrument filled: a future or an option pays its segment's rates.
        symbol
            The symbol for ``segment_of``, when no instrument names it.

        Raises
        ------
        ConfigError
            A bad argument, naming it, or a trade date the table does not cover.
        """
        table = self.table if self.table is not None else default_rate_table()
        day = trade_date if trade_date is not None else (self.trade_date or table.latest_change)
        return charges(self.segment(product, symbol, instrument), side, quantity, price, day,
                       prior_turnover=prior_turnover, table=table, ipft=self.ipft)

    def fees(self, side: Side, product: Product, quantity: int, price: Decimal, *,
             prior_turnover: Decimal = _ZERO, trade_date: date | None = None, instrument: Instrument | None = None,
             symbol: str | None = None) -> Decimal:
        """Total charges of one fill, in rupees with two decimal places (the sum of :meth:`breakdown`)."""
        if (type(side) is Side and type(quantity) is int and type(price) is Decimal and type(trade_date) is date
                and type(prior_turnover) is Decimal and 0 < quantity <= MAX_QUANTITY and price.is_finite()
                and 0 < price <= MAX_PRICE and prior_turnover.is_finite() and 0 <= prior_turnover <= _MAX_TURNOVER):
            # The broker's call, with values of the exact types in range: priced without charges()'s parsing and
            # the breakdown's Decimals, at a third of the cost; the same paise (a property test holds them equal).
            table = self.table if self.table is not None else default_rate_table()
            rates = table.rates_on(self.segment(product, symbol, instrument), trade_date)
            paise = _fill_paise(rates, side is Side.BUY, quantity, price, prior_turnover, self.ipft)
            return Decimal(sum(paise.values())).scaleb(-2)
        breakdown = self.breakdown(side, product, quantity, price, prior_turnover=prior_turnover,
                                   trade_date=trade_date, instrument=instrument, symbol=symbol)
        return sum(breakdown.values(), _ZERO)


@dataclass
class _Day:
    buy: Fraction
    sell: Fraction
    orders: dict[object, Fraction]


def _records(trades: Any) -> list[Mapping[str, Any]]:
    if hasattr(trades, "to_dict") and hasattr(trades, "columns"):
        return list(trades.to_dict("records"))
    if isinstance(trades, str | bytes | Mapping) or not isinstance(trades, Iterable):
        raise ConfigError("trades", trades, "a DataFrame or an iterable of mappings, one per trade")
    return list(trades)


def contract_note(trades: Any, *, table: RateTable | None = None, ipft: bool = True) -> Any:
    """A day's charges per segment, added up as a contract note adds them.

    Brokerage is per executed order (trades sharing an ``order_id`` are one order; a trade without one is an order
    of its own); the exchange charge, IPFT, SEBI fee, STT and stamp duty are taken on the segment's day totals and
    rounded once, STT to the rupee (exchanges compute it per client per day and round it so); GST on the rounded
    charges. Figures can differ by a few paise from the sum of per-fill :func:`charges`, as a contract note differs
    from a per-trade calculator.

    Parameters
    ----------
    trades
        A DataFrame or an iterable of mappings with ``trade_date``, ``segment``, ``side``, ``quantity``, ``price``
        and optionally ``order_id``.
    table, ipft
        As for :func:`charges`.

    Returns
    -------
    pandas.DataFrame
        One row per (trade_date, segment), in date and segment order; columns ``buy_value``, ``sell_value``, the
        charges and ``total_charges``, as Decimal to the paisa. ``.T`` gives a contract note's layout.

    Raises
    ------
    DataError
        A trade with a bad field: the error names the field, the value and the trade's position (``row``).
    """
    import pandas as pd

    table = table if table is not None else default_rate_table()
    if not isinstance(ipft, bool):
        raise ConfigError("ipft", ipft, "True or False")
    days: dict[tuple[date, Segment], _Day] = {}
    for position, trade in enumerate(_records(trades)):
        if not isinstance(trade, Mapping):
            raise DataError("trade", trade, "a mapping with trade_date, segment, side, quantity, price", row=position)
        try:
            missing = [k for k in ("trade_date", "segment", "side", "quantity", "price") if k not in trade]
            if missing:
                raise ConfigError(missing[0], None, "a value: every trade needs it")
            day, segment = to_trade_date(trade["trade_date"]), _segment(trade["segment"])
            table.rates_on(segment, day)  # a date outside the table fails here, naming the trade
            side, quantity = _side(trade["side"]), _quantity(trade["quantity"])
            price = _amount(trade["price"], "price", Decimal(0), MAX_PRICE, True)
        except ConfigError as error:
            raise DataError(error.field, error.value, error.allowed, row=position,
                            detail=f"trade {position}") from None
        value = Fraction(price) * quantity
        entry = days.setdefault((day, segment), _Day(Fraction(0), Fraction(0), {}))
        if side is Side.BUY:
            entry.buy += value
        else:
            entry.sell += value
        order = trade.get("order_id")
        key: object = ("trade", position) if order is None else ("order", order)
        entry.orders[key] = entry.orders.get(key, Fraction(0)) + value
    rows = []
    for (day, segment) in sorted(days, key=lambda k: (k[0], list(Segment).index(k[1]))):
        line = _note_line(table.rates_on(segment, day), days[(day, segment)], ipft)
        rows.append({"trade_date": day, "segment": segment.value, **line})
    frame = pd.DataFrame(rows, columns=["trade_date", "segment", *_NOTE_COLUMNS])
    if not ipft:
        frame = frame.drop(columns="ipft")
    return frame.set_index(["trade_date", "segment"])


def _note_line(rates: SegmentRates, day: _Day, ipft: bool) -> dict[str, Decimal]:
    paise: dict[str, int] = {}
    brokerage = 0
    for value in day.orders.values():
        brokerage += _brokerage(rates, value.numerator, value.denominator, Decimal(0))
    paise["brokerage"] = brokerage
    for charge in ("stt", "exchange_transaction_charge", "ipft", "sebi_fee", "stamp_duty"):
        if charge == "ipft" and not ipft:
            continue
        row = rates.rows[charge]
        base = (day.buy if row.applies_to(True) else 0) + (day.sell if row.applies_to(False) else 0)
        rounding = _rupee_paise if charge == "stt" else _paise
        paise[charge] = rounding(base.numerator, base.denominator, row.rate.as_integer_ratio())
    gst = rates.rows["gst"]
    paise["gst"] = _paise(sum(paise.get(name, 0) for name in gst.basis.split("+")), 100, gst.rate.as_integer_ratio())
    line = {"buy_value": _to_rupees(day.buy), "sell_value": _to_rupees(day.sell)}
    line.update({name: Decimal(paise.get(name, 0)).scaleb(-2) for name in CHARGES})
    line["total_charges"] = Decimal(sum(paise.values())).scaleb(-2)
    return line


def _to_rupees(value: Fraction) -> Decimal:
    return Decimal(_paise(value.numerator, value.denominator, (1, 1))).scaleb(-2)
