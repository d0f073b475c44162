"""The pre-trade validator: runs every check of :mod:`oms_kit.checks` on an order and returns every violation
(:meth:`PreTradeValidator.validate`, the hot path), or every check's verdict (:meth:`PreTradeValidator.explain`, the
dry run). What a check is, and what it reads, is in :mod:`oms_kit.check`.
"""

from __future__ import annotations

from collections.abc import Iterable

from oms_kit.check import Check, CheckContext, CheckResult, Measure
from oms_kit.checks import default_checks
from oms_kit.models import Order, TradingState, Violation
from oms_kit.risk import RiskLimits

__all__ = ["PreTradeValidator"]


class PreTradeValidator:
    """Runs every pre-trade check on an order and reports all violations together.

    Parameters
    ----------
    checks : iterable of Check, optional
        The checks to run, in reporting order; by default every check (:func:`~oms_kit.checks.default_checks`).
        What a check reads of the account, the exchange session included, comes with the order's context.
    """

    __slots__ = ("_measures", "checks")

    def __init__(self, checks: Iterable[Check] | None = None) -> None:
        self.checks: tuple[Check, ...] = tuple(checks) if checks is not None else default_checks()
        # Per limits object (by identity, the object kept alongside so a reused id cannot match) and trading state:
        # the measures of the checks that apply. An account has one limits object per symbol at most, so this
        # stays small.
        self._measures: dict[tuple[int, TradingState], tuple[RiskLimits, tuple[Measure, ...]]] = {}

    def _measures_for(self, limits: RiskLimits, state: TradingState) -> tuple[Measure, ...]:
        key = (id(limits), state)
        cached = self._measures.get(key)
        if cached is None or cached[0] is not limits:
            if len(self._measures) > 1000:  # limits built afresh for every order: do not grow without bound
                self._measures.clear()
            cached = self._measures[key] = (
                limits, tuple(check.measure for check in self.checks if check.applies(limits, state)))
        return cached[1]

    def validate(self, order: Order, ctx: CheckContext) -> list[Violation]:
        """Every violation of ``order``; an empty list means it may be placed.

        Parameters
        ----------
        order : Order
            A well-formed order (its fields already parsed).
        ctx : CheckContext
            The account as the order arrives; its lazy properties are read only by checks that are on.

        Returns
        -------
        list of Violation
            In the order of :attr:`checks`.
        """
        violations: list[Violation] = []
        # Only the checks that apply under these limits: a check whose limit is None would only say so.
        limits, state = ctx.limits, ctx.trading_state
        cached = self._measures.get((id(limits), state))
        measures = cached[1] if cached is not None and cached[0] is limits else self._measures_for(limits, state)
        for measure in measures:
            outcome = measure(order, ctx)
            if type(outcome) is Violation:
                violations.append(outcome)
        return violations

    def explain(self, order: Order, ctx: CheckContext) -> list[CheckResult]:
        """The dry run: every check with its value, limit, headroom and verdict.

        Parameters
        ----------
        order : Order
            The order that would be placed.
        ctx : CheckContext
            The account as it is now.

        Returns
        -------
        list of CheckResult
            One per check, in the order of :attr:`checks`, passed, failed or skipped.
        """
        return [check.explain(order, ctx) for check in self.checks]

    def __repr__(self) -> str:
        return f"<PreTradeValidator {len(self.checks)} checks>"
