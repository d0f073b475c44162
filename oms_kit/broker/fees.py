"""Fee models: what a fill costs in brokerage, taxes and exchange charges.

A fee model is a small object with ``fees(side, product, quantity, price)`` (the total, in rupees, rounded to
0.01 with ROUND_HALF_UP as contract notes show it) and ``breakdown(...)`` (the same charges one by one). The broker
calls it once per fill and puts the result on the :class:`~oms_kit.models.Fill`; the ledger only reads
``fill.fees``.

Brokerage is charged "per executed order" with a cap (₹20 at discount brokers). A fill is not an order: an order
filled in three parts pays the cap once, not three times. The broker passes ``prior_turnover`` (the traded value of
the order's earlier fills, ``filled_quantity * average_price``) and the model charges only the brokerage the order
owes beyond what its earlier fills paid. Without it (the default, 0) every fill is priced as an order of its own.

Models are pure: no I/O, no clock, no state between calls.

A model may also take two keywords of context, ``trade_date`` (the fill's trade date in India, a ``datetime.date``)
and ``instrument`` (the :class:`~oms_kit.tradable.Instrument` filled: futures and options are priced otherwise than
shares). The broker asks once, when it is given the model, which of the two its ``fees`` names (a ``**kwargs``
takes both: :func:`fee_keywords`), and passes only those: a model written to the older shape, without them, is
called as before, and so are :class:`NoFees` and :class:`IndiaEquityFees`, which price neither by date nor by
instrument and so cost the fill path nothing more.

:class:`IndiaEquityFees` holds today's equity rates as fields. :class:`~oms_kit.broker.charges.NseFees` (``"nse"``)
prices every NSE segment (delivery, intraday, futures, options) at the rates in force on a fill's trade date, from the
dated table in :mod:`oms_kit.broker.rates`, and bills NSE's IPFT charge as brokers do.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import ClassVar, Protocol, runtime_checkable

from oms_kit.broker.charges import NseFees
from oms_kit.broker.paise import equity_charges
from oms_kit.errors import ConfigError
from oms_kit.models import Product, Side

__all__ = ["FEE_CONTEXT", "FEE_MODELS", "FeeModel", "IndiaEquityFees", "NoFees", "NseFees", "fee_keywords", "fee_model"]

_ZERO = Decimal("0.00")
_BUY, _CNC = Side.BUY, Product.CNC
_CHARGE_NAMES = ("brokerage", "stt", "exchange_transaction_charge", "sebi_fee", "stamp_duty", "gst")


@runtime_checkable
class FeeModel(Protocol):
    """What the broker needs from a fee model.

    Implementations must accept ``prior_turnover`` as a keyword argument, even if they ignore it. They may accept
    ``trade_date`` and ``instrument`` too (see :data:`FEE_CONTEXT`); the broker passes those only to a model whose
    ``fees`` names them (or takes ``**kwargs``), so models without them keep working.
    """

    def fees(
        self, side: Side, product: Product, quantity: int, price: Decimal, *, prior_turnover: Decimal = _ZERO
    ) -> Decimal:
        """Total charges of one fill, rounded to 0.01."""
        ...

    def breakdown(
        self, side: Side, product: Product, quantity: int, price: Decimal, *, prior_turnover: Decimal = _ZERO
    ) -> dict[str, Decimal]:
        """The charges of one fill by name; they add up to :meth:`fees`."""
        ...


@dataclass(frozen=True, slots=True)
class NoFees:
    """No charges at all: every fill costs 0 (``fees=None``)."""

    name: ClassVar[str] = "none"

    def fees(
        self, side: Side, product: Product, quantity: int, price: Decimal, *, prior_turnover: Decimal = _ZERO
    ) -> Decimal:
        """Return ``Decimal("0.00")``.

        Parameters
        ----------
        side, product, quantity, price, prior_turnover
            Ignored.

        Returns
        -------
        Decimal
            Zero, with two decimal places like every other fee.
        """
        return _ZERO

    def breakdown(
        self, side: Side, product: Product, quantity: int, price: Decimal, *, prior_turnover: Decimal = _ZERO
    ) -> dict[str, Decimal]:
        """Return an empty breakdown: there are no charges to list.

        Returns
        -------
        dict[str, Decimal]
            ``{}``.
        """
        return {}


@dataclass(frozen=True, slots=True)
class IndiaEquityFees:
    """Charges on NSE cash-market equity trades, as a discount broker's contract note shows them.

    Every rate is a fraction of turnover (``quantity * price``) and a field, so a broker with other charges is one
    ``IndiaEquityFees(intraday_brokerage_rate=..., brokerage_cap=...)`` away. The defaults are the published rates
    for NSE equity (sources named beside each field).

    ========================== ============================ ==========================================
    charge                     delivery (CNC)               intraday (MIS; NRML priced the same)
    ========================== ============================ ==========================================
    brokerage                  0                            min(₹20, 0.03 %) per executed order
    STT                        0.1 % on buy and sell        0.025 % on the sell side
    exchange transaction       0.00297 %                    0.00297 %
    SEBI turnover fee          ₹10 per crore (0.0001 %)     ₹10 per crore (0.0001 %)
    stamp duty                 0.015 % on the buy side      0.003 % on the buy side
    GST                        18 % of (brokerage + exchange transaction charge + SEBI fee)
    ========================== ============================ ==========================================

    NRML is a carry-forward product for derivatives; equity cash trades under NRML are priced at the intraday
    rates here. Futures and options have other STT, stamp and exchange rates: :class:`~oms_kit.broker.charges.NseFees`
    prices them, at the rates of each fill's trade date.

    Each charge is rounded to 0.01 (ROUND_HALF_UP) and GST is taken on the rounded charges, so the breakdown adds
    up to the total exactly. Not modelled: depository (DP) charges on a delivery sell, which are per scrip per
    day rather than per fill, and the rounding of STT to the rupee, which applies to a contract note's total
    rather than to a single fill.

    Parameters
    ----------
    delivery_brokerage_rate, intraday_brokerage_rate
        Brokerage as a fraction of turnover, before the cap.
    brokerage_cap
        Most brokerage one executed order pays, in rupees.
    delivery_stt_rate, intraday_stt_rate
        Securities Transaction Tax; delivery on both sides, intraday on the sell side only.
    exchange_transaction_rate
        The exchange's transaction charge (NSE cash market).
    sebi_fee_rate
        SEBI's turnover fee.
    delivery_stamp_duty_rate, intraday_stamp_duty_rate
        Stamp duty, paid by the buyer.
    gst_rate
        GST on brokerage, the exchange transaction charge and the SEBI fee.
    """

    name: ClassVar[str] = "india_equity"

    # Brokerage: Zerodha's published "Charges" page (equity delivery: zero; equity intraday: 0.03 % or ₹20 per
    # executed order, whichever is lower); other discount brokers publish the same schedule.
    delivery_brokerage_rate: Decimal = Decimal("0")
    intraday_brokerage_rate: Decimal = Decimal("0.0003")
    brokerage_cap: Decimal = Decimal("20")
    # STT: Chapter VII of the Finance (No. 2) Act, 2004, as amended (0.1 % delivery both sides, 0.025 % intraday
    # sell side).
    delivery_stt_rate: Decimal = Decimal("0.001")
    intraday_stt_rate: Decimal = Decimal("0.00025")
    # NSE cash-market transaction charge, ₹2.97 per lakh of turnover, from NSE's circular on revised transaction
    # charges effective 1 October 2024, which followed SEBI's circular on uniform, "true to label" charges by
    # market infrastructure institutions (July 2024).
    exchange_transaction_rate: Decimal = Decimal("0.0000297")
    # SEBI turnover fee: ₹10 per crore (10 / 1,00,00,000), as SEBI's fee schedule and brokers' charges pages state.
    sebi_fee_rate: Decimal = Decimal("0.000001")
    # Stamp duty: Indian Stamp Act, 1899, as amended by the Finance Act, 2019 (uniform duty on securities, in force
    # from 1 July 2020): 0.015 % on delivery, 0.003 % on intraday, collected from the buyer only.
    delivery_stamp_duty_rate: Decimal = Decimal("0.00015")
    intraday_stamp_duty_rate: Decimal = Decimal("0.00003")
    # GST: 18 % on the services (brokerage, exchange and SEBI charges); not on STT or stamp duty, which are taxes.
    gst_rate: Decimal = Decimal("0.18")
    # Every rate (and the cap) as an exact fraction (numerator, denominator), for _charges.
    _ratios: dict[str, tuple[int, int]] = dataclass_field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        # Rates come from configuration (YAML, notebooks) as str or float as often as Decimal; floats go through
        # str() so 0.0003 stays 0.0003 and does not become 0.000299999...
        for field in fields(self):
            if not field.init:
                continue
            value = getattr(self, field.name)
            try:
                rate = value if isinstance(value, Decimal) else Decimal(str(value))
            except ArithmeticError:
                rate = Decimal("NaN")
            if isinstance(value, bool) or not rate.is_finite() or rate < 0:
                raise ConfigError(field.name, value, "a finite number >= 0")
            object.__setattr__(self, field.name, rate)
            self._ratios[field.name] = rate.as_integer_ratio()

    def breakdown(
        self, side: Side, product: Product, quantity: int, price: Decimal, *, prior_turnover: Decimal = _ZERO
    ) -> dict[str, Decimal]:
        """The charges of one fill by name.

        Parameters
        ----------
        side
            BUY or SELL: STT (intraday) falls on the seller, stamp duty on the buyer.
        product
            CNC prices as delivery; MIS and NRML as intraday.
        quantity
            Units filled, a positive integer.
        price
            Fill price.
        prior_turnover
            Traded value of the same order's earlier fills. Brokerage is capped per executed order, so this fill
            pays only what the order owes beyond what those fills already paid. 0 (the default) prices the fill
            as a whole order.

        Returns
        -------
        dict[str, Decimal]
            ``brokerage``, ``stt``, ``exchange_transaction_charge``, ``sebi_fee``, ``stamp_duty`` and ``gst``,
            each rounded to 0.01; their sum is :meth:`fees`.
        """
        charges = self._charges(side, product, quantity, price, prior_turnover)
        return {name: Decimal(paise).scaleb(-2) for name, paise in zip(_CHARGE_NAMES, charges, strict=True)}

    def _charges(
        self, side: Side, product: Product, quantity: int, price: Decimal, prior_turnover: Decimal
    ) -> tuple[int, int, int, int, int, int]:
        # In paise, in _CHARGE_NAMES order (oms_kit/broker/paise.py, compiled with the order path).
        return equity_charges(self._ratios, side is _BUY, product is _CNC, quantity, price, prior_turnover)

    def fees(
        self, side: Side, product: Product, quantity: int, price: Decimal, *, prior_turnover: Decimal = _ZERO
    ) -> Decimal:
        """Total charges of one fill.

        Parameters
        ----------
        side, product, quantity, price, prior_turnover
            As for :meth:`breakdown`.

        Returns
        -------
        Decimal
            The sum of the breakdown, in rupees, with two decimal places.
        """
        return Decimal(sum(self._charges(side, product, quantity, price, prior_turnover))).scaleb(-2)


FEE_CONTEXT = ("trade_date", "instrument")
"""The keywords of context a fee model's ``fees`` may take besides ``prior_turnover``: the fill's trade date in India
(a ``datetime.date``) and its :class:`~oms_kit.tradable.Instrument`."""


def fee_keywords(model: object) -> tuple[str, ...]:
    """Which of :data:`FEE_CONTEXT` a fee model's ``fees`` takes, in that order; read once, not per fill.

    Parameters
    ----------
    model
        A fee model (any object; one without a ``fees`` whose signature can be read takes none).

    Returns
    -------
    tuple[str, ...]
        ``()`` for a model of the older shape, ``("trade_date", "instrument")`` for one that takes both (or
        ``**kwargs``), or the one it names.
    """
    try:
        parameters = inspect.signature(model.fees).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):  # no fees, not callable, or a builtin without a signature
        return ()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return FEE_CONTEXT
    named = {name for name, p in parameters.items()
             if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}
    return tuple(name for name in FEE_CONTEXT if name in named)


FEE_MODELS: dict[str, Callable[[], FeeModel]] = {
    IndiaEquityFees.name: IndiaEquityFees, NseFees.name: NseFees, NoFees.name: NoFees,
}
"""Fee models by name, as ``fees="..."`` accepts them. Add an entry to make a model of your own nameable."""


def _allowed() -> str:
    names = ", ".join(repr(name) for name in FEE_MODELS)
    return f"{names}, None (no fees) or a fee model instance (an object with fees() and breakdown())"


def fee_model(spec: str | FeeModel | None) -> FeeModel:
    """Resolve the ``fees=`` option to a fee model.

    Parameters
    ----------
    spec
        A name from :data:`FEE_MODELS` (``"india_equity"``, ``"nse"``, ``"none"``; case-insensitive), ``None`` for
        no fees, or a fee model instance, which is returned as it is.

    Returns
    -------
    FeeModel
        The model to call once per fill.

    Raises
    ------
    ConfigError
        For an unknown name or an object that is not a fee model; the error names the field ``fees``, the value
        and what is allowed.
    """
    if spec is None:
        return NoFees()
    if isinstance(spec, str):
        factory = FEE_MODELS.get(spec.strip().lower())
        if factory is None:
            raise ConfigError("fees", spec, _allowed())
        return factory()
    if isinstance(spec, type):
        # A class has the methods too, so the protocol check alone would let IndiaEquityFees (uncalled) through.
        raise ConfigError("fees", spec, _allowed(), hint=f"pass an instance: {spec.__name__}()")
    if isinstance(spec, FeeModel):
        return spec
    raise ConfigError("fees", spec, _allowed())
