"""The reads of the OMS facade: orders, trades and positions as tables, prices and instruments, the option chain,
the dry run and the risk figures, today's figures and the snapshot.

A part of :class:`~oms_kit.oms.OMS` (it inherits these methods), kept in a module of its own: they change nothing in
the account (a reopened day's book is read into memory when first needed) and, but for ``risk_decisions``, read
memory without awaiting. The orders and trades of any day are :mod:`oms_kit.book`'s, the order tables
:mod:`oms_kit.tables`'s, the risk and margin summaries :mod:`oms_kit.summary`'s, the snapshot
:mod:`oms_kit.snapshot`'s.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from oms_kit.broker.notes import day_window, fills_contract_note
from oms_kit.chain import ChainIndex, option_chain
from oms_kit.errors import InvalidOrderError
from oms_kit.models import Order
from oms_kit.parsing import parse_text
from oms_kit.request import MAX_SYMBOL, OrderRequest
from oms_kit.settlement import traded
from oms_kit.snapshot import Snapshot, take_snapshot
from oms_kit.summary import margin_rows, margin_summary, risk_summary
from oms_kit.tables import orders_frame
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    from oms_kit.book import Book
    from oms_kit.market.clock import Clock
    from oms_kit.market.feeds import Feed
    from oms_kit.monitor import RiskMonitor
    from oms_kit.oms import OMS
    from oms_kit.orders import OrderManager
    from oms_kit.risk import RiskAlert
    from oms_kit.storage import Store

__all__ = ["AccountReads"]


class AccountReads:
    """The reads of the OMS (see the module docstring)."""

    if TYPE_CHECKING:  # what the OMS provides
        manager: OrderManager
        clock: Clock
        feed: Feed | None
        store: Store
        account: str
        monitor: RiskMonitor
        alerts: list[RiskAlert]
        _book: Book

        async def flush(self) -> None: ...

    # -- the book and prices ----------------------------------------------------------------------------------

    def last_price(self, symbol: str) -> Decimal | None:
        """The latest price of ``symbol`` on its tick, or None before the first quote."""
        return self.manager.prices.get(symbol)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument definition of ``symbol`` (tick, lot, freeze quantity)."""
        found = self.manager.instruments.get(symbol)
        if found is None:
            raise InvalidOrderError("symbol", symbol, ", ".join(sorted(self.manager.instruments)))
        return found

    def get_order(self, order_id: str) -> Order:
        """The order with this id, of any day: the day's and the working orders from memory, older ones read from
        the store. Raises OmsError when the account has no such order."""
        return self._book.get_order(order_id)

    def find_order(self, client_order_id: str) -> Order | None:
        """The order of the day placed with this client order id, or None."""
        return self._book.find_order(client_order_id)

    def load_day_book(self) -> None:
        """Make sure a reopened account's whole trading day is in memory. The orders that ended and the trades made
        before the restart are read when first needed: the reads of the book (``orders()``, ``trades()``,
        ``get_order()``, ``stats_today()``, the dashboard's history) call this themselves, and the first order
        placed waits for them; it blocks for the one read, once."""
        self._book.load_day_book()

    def active_orders(self) -> pd.DataFrame:
        """Working orders (open, partly filled, waiting for a trigger) as a table."""
        return orders_frame(list(self.manager.live.values()))

    def orders(self, symbol: str | None = None, status: str | None = None, side: str | None = None,
               since: datetime | str | None = None, until: datetime | str | None = None,
               limit: int | None = None) -> pd.DataFrame:
        """Orders in the order they were placed (newest last), filtered by any of the arguments.

        Without ``since``/``until`` this is the book in memory: the trading day (a reopened account shows every
        order of the day, in any status) and the working orders. A window reaching back before that (``since`` or
        ``until`` earlier than the day a reopened OMS began with) is read from the store too; ``limit`` keeps the
        newest that many, so older pages come with ``until=`` the oldest time shown. Times are datetimes, dates or
        ISO strings; naive ones are exchange-local.
        """
        return self._book.orders(symbol, status, side, since, until, limit)

    def trades(self, symbol: str | None = None, since: datetime | str | None = None,
               until: datetime | str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Fills as a table (fees per fill included), oldest first: the trading day's from memory, and, like
        :meth:`orders`, older ones from the store when ``since``/``until`` reach back before it."""
        return self._book.trades(symbol, since, until, limit)

    def contract_note(self, day: date | None = None) -> pd.DataFrame:
        """A day's fills as a contract note: one row per trade date and segment (equity delivery or intraday by
        product, futures, options on premium), with the buy and sell values, each charge added up as a contract
        note does (brokerage per order, the rest on the day's totals, STT to the rupee) and ``fills_fees``, the
        fees the fills were booked with (``oms_kit.broker.notes`` says when and why the two differ).

        ``day`` is an exchange-local date, the current trading day when None; an earlier day's fills are read from
        the store. Raises ConfigError for a ``day`` that is not a date, DataError for fills outside the rate
        table's dates."""
        since, until = day_window(day, self.manager.session.zone, self.manager.day.began)
        trades = traded(self._book.trades(since=since, until=until))  # settlements at expiry are not traded
        return fills_contract_note(trades, self.manager.instruments, getattr(self.manager.broker, "fee_model", None))

    def positions(self) -> pd.DataFrame:
        """Every position of the day, flat ones included with their realized P&L."""
        return self.manager.ledger.to_frame()

    def position(self, symbol: str) -> int:
        """Net quantity held in ``symbol`` over all products (negative when short; 0 when none). A symbol that is
        not a text raises InvalidOrderError."""
        return self.manager.ledger.net_quantity(parse_text(symbol, "symbol", MAX_SYMBOL))

    def option_chain(self, underlying: str, expiry: date | str | None = None, *,
                     rate: float | None = None) -> pd.DataFrame:
        """The option chain of ``underlying`` (``"NIFTY"``) for ``expiry`` (a date or ``"YYYY-MM-DD"``; None: the
        nearest not yet expired on the OMS's clock): one row per strike, lowest first, with each call's and put's
        symbol, last price, implied volatility, delta and net position (``oms_kit.chain`` says how the forward and
        volatilities are found). ``rate`` discounts payoffs; None: the random-walk feed's, else 6%.

        Raises InstrumentLookupError (a ConfigError) for an underlying without options or an expiry not listed,
        ConfigError for a malformed argument."""
        self._chain_index = index = ChainIndex.of(self.manager.instruments, getattr(self, "_chain_index", None))
        return option_chain(index, self.manager.prices, self.manager.ledger.net_quantity, underlying, expiry,
                            now=self.clock.now(), rate=rate if rate is not None else getattr(self.feed, "rate", None))

    # -- risk and the day -------------------------------------------------------------------------------------

    def validate(self, symbol: str | OrderRequest, side: str | None = None, quantity: int | None = None,
                 order_type: str = "MARKET", price: float | Decimal | None = None, *, product: str = "MIS",
                 validity: str = "DAY", trigger_price: float | Decimal | None = None,
                 variety: str = "regular", disclosed_quantity: int = 0) -> pd.DataFrame:
        """Dry run: every pre-trade check with pass/fail, value, limit and headroom. Nothing is recorded.

        Takes the order's fields or one :class:`OrderRequest`, as :meth:`place_order` does. For a future or an
        option two more rows follow the checks: ``margin_required`` (what the order adds to the account's portfolio
        margin, plus the premium of an option bought, against the free cash) and ``margin_benefit`` (what margining
        it with the account's positions saves against margining it alone: above 0 for a hedge); their code is
        empty."""
        request = OrderRequest.of(symbol, side, quantity, order_type, price, trigger_price, product, validity,
                                  None, None, variety, disclosed_quantity)
        results = self.manager.explain(request)
        return pd.DataFrame([r.to_dict() for r in results] + margin_rows(self.manager, request))

    def margin_summary(self) -> pd.DataFrame:
        """The account's F&O margin per underlying now: SPAN, short option minimum, initial, exposure and total
        margin of its futures and options positions and working orders, the underlying's price and the symbol it
        came from (:mod:`oms_kit.account_margin`). Empty without F&O; ``risk_summary()`` has the free cash."""
        return margin_summary(self.manager)

    def risk_summary(self) -> dict[str, Any]:
        """Trading state, day P&L, the free cash (``available_funds``) and the margins that hold the rest
        (``equity_margin``, ``fno_margin``, ``option_premium``), and each account limit with its current use."""
        return risk_summary(self.manager, self.monitor.limit_uses(), self.alerts)

    def risk_alerts(self) -> pd.DataFrame:
        """Risk alerts raised in this session."""
        return pd.DataFrame([a.to_dict() for a in self.alerts])

    async def risk_decisions(self) -> pd.DataFrame:
        """Every pre-trade decision of a real order, from the store."""
        await self.flush()
        return await self.store.fetch_df(
            "SELECT * FROM risk_decisions WHERE account = $1 ORDER BY ts, decision_id", self.account)

    def stats_today(self) -> dict[str, Any]:
        """Today's orders placed, filled, rejected, cancelled and expired; trades, turnover and fees; the account's
        realized and unrealized P&L, its P&L since the day began, and the win rate of today's closing fills.

        The day is the exchange's (``exchange_timezone``): the risk monitor starts a new one after midnight there.
        """
        self.load_day_book()
        manager = self.manager
        return manager.day.stats(manager.counts, manager.trades, manager.closing_fills, manager.winning_fills,
                                 manager.ledger)

    def snapshot(self) -> Snapshot:
        """The account now as frozen plain values (figures, positions, working orders, limits, alerts)."""
        return take_snapshot(cast("OMS", self))  # self is the OMS: this class is one of its bases
