"""What a pre-trade check is: the account it reads (:class:`CheckContext`), what it measures (an *outcome*), and
how the dry run reports it (:class:`CheckResult`).

Each check is written once, as a *measure* ``(order, ctx) -> Violation | (value, limit) | str``: a
:class:`~oms_kit.models.Violation` when the order breaks the rule, the ``(value, limit)`` evidence when it passes,
or a short reason when the check does not apply (its limit is ``None``, or what it needs is missing). The hot path
(:meth:`~oms_kit.validator.PreTradeValidator.validate`) keeps only the violations; the dry run
(:meth:`~oms_kit.validator.PreTradeValidator.explain`) turns every outcome into a :class:`CheckResult`. So both use
the same code, and a passing check allocates at most one small tuple. The checks themselves are in
:mod:`oms_kit.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from oms_kit.models import Order, Product, TradingState, Violation
from oms_kit.risk import RiskLimits
from oms_kit.session import ExchangeSession
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    from oms_kit.account_margin import OrderMargin

__all__ = ["Check", "CheckContext", "CheckResult", "Measure", "Outcome"]


class CheckContext(Protocol):
    """What the checks may read about the account when an order arrives. The OMS computes these lazily
    (properties), so a check whose limit is None costs nothing."""

    limits: RiskLimits  # already resolved for the order's symbol (per-symbol overrides applied)
    instrument: Instrument | None  # None: the symbol is not tradable here
    trading_state: TradingState
    now: datetime  # the OMS clock (simulated in a backtest)

    @property
    def session(self) -> ExchangeSession: ...  # the account's exchange: where the session hours are local times

    @property
    def modify_of(self) -> Order | None: ...  # the order being modified; None for a new placement

    @property
    def last_price(self) -> Decimal | None: ...  # latest market price of the symbol, on tick

    @property
    def position_quantity(self) -> int: ...  # signed net position in the symbol, all products

    def product_position_quantity(self, product: Product) -> int:
        """Signed position in the symbol for one product: what a reduce-only order of that product may close."""
        ...

    @property
    def working_buy_quantity(self) -> int: ...  # remaining quantity of working BUY orders in the symbol

    @property
    def working_sell_quantity(self) -> int: ...  # remaining quantity of working SELL orders in the symbol

    @property
    def open_order_count(self) -> int: ...  # working orders of the account, all symbols

    @property
    def recent_order_times(self) -> Sequence[datetime]: ...  # times of orders accepted for checking, oldest first

    def last_similar_order_time(self, symbol: str, side: str, quantity: int, price: Decimal | None) -> datetime | None:
        """When an order with the same symbol, side, quantity and price was last placed, if ever."""
        ...

    def client_order_id_exists(self, client_order_id: str) -> bool: ...

    @property
    def gross_exposure(self) -> Decimal: ...  # sum over positions of |quantity| x last price

    @property
    def day_pnl(self) -> Decimal: ...  # realized + unrealized - fees, today

    @property
    def available_funds(self) -> Decimal: ...  # cash less margin blocked by positions and working orders

    def order_margin(self) -> OrderMargin:
        """For a future or an option: what the order adds to the account's portfolio margin, its premium and the
        free cash it must fit. Raises DataError when its underlying has no price, ConfigError when it expired."""
        ...


# A violation, the (value, limit) evidence of a pass, or why the check did not apply.
Outcome = Violation | tuple[Any, Any] | str
Measure = Callable[[Order, CheckContext], Outcome]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the dry run: how an order fares against one check.

    Attributes
    ----------
    name, code : str
        The check and the violation code it reports.
    passed : bool
        False when the check reports a violation. A skipped check passes.
    value, limit : Any
        What was measured and what it was compared with (None when skipped).
    headroom : Any
        ``limit - value`` for checks where that is meaningful (how much more would pass), else None.
    message : str
        The violation's message, or a sentence saying why the order passes or why the check was skipped.
    skipped : bool
        True when the check did not apply (no limit set, or nothing to compare).
    """

    name: str
    code: str
    passed: bool
    value: Any
    limit: Any
    headroom: Any
    message: str
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The result as plain values; Decimals become strings so nothing is lost."""
        return {
            "name": self.name, "code": self.code, "passed": self.passed, "value": _plain(self.value),
            "limit": _plain(self.limit), "headroom": _plain(self.headroom), "message": self.message,
            "skipped": self.skipped,
        }  # fmt: skip


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@dataclass(frozen=True, slots=True)
class Check:
    """A pre-trade check: its name, its code, its measure and how to word a pass.

    Calling it, ``check(order, ctx)``, returns a :class:`~oms_kit.models.Violation` or None.

    Attributes
    ----------
    name : str
        Stable name of the check (a row of the dry run).
    code : str
        The violation code it reports (``check_reduce_only`` may also report ``TRADING_STATE_REDUCING``).
    measure : Callable
        ``(order, ctx) -> Violation | (value, limit) | str``; the str says why the check did not apply.
    passed_text : str
        ``str.format`` template with ``{value}`` and ``{limit}`` for the dry run's message on a pass.
    has_headroom : bool
        Whether ``limit - value`` means "how much more would pass".
    limit_fields : tuple of str
        The :class:`~oms_kit.risk.RiskLimits` fields without which the check does not apply: while any of them is
        None, :meth:`~oms_kit.validator.PreTradeValidator.validate` skips it (the dry run still reports it, as
        skipped). Empty for a check that always runs.
    only_in : TradingState or None
        The one trading state in which the check can fail (HALTED for the trading state check, REDUCING for
        reduce-only); :meth:`~oms_kit.validator.PreTradeValidator.validate` does not run it in other states.
    """

    name: str
    code: str
    measure: Measure
    passed_text: str
    has_headroom: bool = False
    limit_fields: tuple[str, ...] = ()
    only_in: TradingState | None = None

    def applies(self, limits: RiskLimits, state: TradingState | None = None) -> bool:
        """Whether the check can report anything under ``limits`` (every field it needs is set) and, when
        ``state`` is given, in that trading state (see ``only_in``)."""
        if state is not None and self.only_in is not None and state is not self.only_in:
            return False
        return all(getattr(limits, name) is not None for name in self.limit_fields)

    def __call__(self, order: Order, ctx: CheckContext) -> Violation | None:
        outcome = self.measure(order, ctx)
        return outcome if isinstance(outcome, Violation) else None

    def explain(self, order: Order, ctx: CheckContext) -> CheckResult:
        """Run the check and report it whatever the outcome."""
        outcome = self.measure(order, ctx)
        if isinstance(outcome, str):
            return CheckResult(self.name, self.code, True, None, None, None, f"skipped: {outcome}", skipped=True)
        if isinstance(outcome, Violation):
            value, limit, code, passed, message = outcome.value, outcome.limit, outcome.code, False, outcome.message
        else:
            value, limit = outcome
            code, passed, message = self.code, True, self.passed_text.format(value=value, limit=limit)
        headroom = limit - value if self.has_headroom and value is not None and limit is not None else None
        return CheckResult(self.name, code, passed, value, limit, headroom, message)

