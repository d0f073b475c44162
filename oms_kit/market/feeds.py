"""Feeds: asynchronous streams of bars that drive marks, matching and strategies. This module holds the random
walk; :mod:`oms_kit.market.feed` what every feed shares and :mod:`oms_kit.market.replay` the replay of history.

A feed is consumed by one task (the OMS's, or a paper trader's) with ``async for bar in feed.stream()``; the OMS
fans the bars out to everyone else through its event bus. Feeds sleep with ``asyncio`` between updates, so they
run as background tasks in a Jupyter kernel between cells, and ``task.cancel()`` stops them at once.

A feed keeps its place: cancelling the consuming task and calling :meth:`stream` again continues where it stopped
(a replay resumes at the next bar, a random walk from its last prices). :meth:`ReplayFeed.reset` starts over.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from oms_kit.errors import ConfigError, DataError
from oms_kit.market.bars import Bar
from oms_kit.market.calendar import NSECalendar
from oms_kit.market.clock import Clock, LiveClock
from oms_kit.market.feed import Feed, FeedState, SleepFunction, checked_calendar, positive_finite, run_feed
from oms_kit.market.fno import ContractPricer, years_to_expiry
from oms_kit.market.quote import DEPTH, Quote
from oms_kit.market.replay import ReplayFeed
from oms_kit.market.smile import DEFAULT_DIVIDEND_YIELD, DEFAULT_RATE, Smile
from oms_kit.tradable import Instrument

__all__ = ["Feed", "RandomWalkFeed", "ReplayFeed", "run_feed"]

class RandomWalkFeed(FeedState):
    """Random-walk prices for a set of symbols: a live-looking feed with no network and no data files.

    Each step moves every price by a normally distributed log return (so prices stay positive) and yields one bar
    per symbol, in the order the symbols were given, all stamped with the clock's time. The first step yields the
    start prices unchanged. The same seed gives the same prices.

    Given ``instruments`` with futures and options (``Instruments.sample()``, a Kite dump), the feed also walks each
    of their underlyings and quotes every contract from it after the symbols, in the instruments' order: a future
    at the underlying carried to its expiry, an option by Black-76 on that forward at its strike's volatility on the
    underlying's :class:`~oms_kit.market.smile.Smile`, with the time to expiry from the clock (to 15:30 in
    Asia/Kolkata on the expiry day), each on its contract's tick (:mod:`oms_kit.market.fno` has the formulas). An
    underlying that is also one of ``symbols`` (a stock with futures) is that symbol's walk; any other (an index)
    is walked with the same volatility but not sent, since it is not tradable: :meth:`underlying_prices` and
    :meth:`forward` read it; it draws from a generator of its own, so the symbols' prices are those the seed gives
    without contracts. Option prices thus move with their underlying, keep put-call parity within a tick and
    imply the smile's volatility at each strike, so options can be paper traded with no data. All the contracts of
    a step are priced in one vectorised call, so a chain costs little more than its bars.

    Parameters
    ----------
    symbols
        Symbols (each starts at ``start_price``) or a mapping of symbol to start price. None: the symbols of the
        default instrument list.
    interval
        Seconds between steps; 0 runs as fast as possible (still letting other tasks run between steps).
    volatility
        Standard deviation of each step's move, in percent (0.05 = 0.05 %).
    seed
        Seed of the private random generator; None for a different walk each time.
    clock
        Where bar timestamps come from; the wall clock by default.
    max_steps
        Stop after this many steps in all (None: run until cancelled).
    tick_size
        Prices are rounded to this tick, so a limit order at the last price is on the tick; None: no rounding.
    start_price
        The start price of symbols given without one.
    name
        Shown in status; "random_walk" by default.
    sleep
        The coroutine function that waits between steps; tests pass a fake that records the delays.
    calendar
        An :class:`~oms_kit.market.calendar.NSECalendar` to follow: the walk steps only while the market is open at
        the clock's time (normal market and special sessions) and waits, sending nothing, while it is closed
        (``interval`` at a time, at least a second). None (the default): a session of its own, open at any hour.
    instruments
        Instruments (an iterable, a mapping's values, an :class:`~oms_kit.instrument_master.Instruments`) whose
        futures and options the feed quotes; their equities are left out (they are walked when named in
        ``symbols``). None: symbols only.
    underlying_prices
        Start levels of underlyings that are not among ``symbols``, e.g. ``{"NIFTY": 25700.0}``. An underlying not
        named starts at the median of its option strikes (the middle of the listed chains), or at ``start_price``
        when it has futures only.
    smiles
        One :class:`~oms_kit.market.smile.Smile` for every underlying or a mapping of underlying to Smile; None:
        :data:`~oms_kit.market.smile.DEFAULT_SMILES` (NIFTY 12%, BANKNIFTY 14% at the money), else the default.
    rate, dividend_yield
        Fractions a year: ``rate`` discounts option payoffs, and a future is its underlying carried at
        ``rate - dividend_yield`` (defaults :data:`~oms_kit.market.smile.DEFAULT_RATE`,
        :data:`~oms_kit.market.smile.DEFAULT_DIVIDEND_YIELD`).

    quotes
        Send :class:`~oms_kit.market.quote.Quote` objects instead of bars: the walk's price as the last traded
        price, with a book around it that the broker fills against (off by default: bars, as before).
    depth
        Levels of the book each side, 1 to 5.
    spread_ticks
        Ticks from the best bid to the best ask (at least 1): the best bid is the price less half of them (rounded
        down to whole ticks), each further level a tick worse.
    level_size
        The mean quantity of a level: each level's, and each quote's volume, is drawn uniformly from 1 to twice
        this less one (the volume from 0), on a generator of its own seeded from ``seed``, so the prices are the
        ones the seed gives without quotes.

    Notes
    -----
    A bar's open is the previous close, its close the new price, high and low the larger and smaller of the two.
    Volume is NaN (unknown): a volume-based fill model should treat it as no volume limit.
    """

    kind = "random_walk"

    def __init__(
        self,
        symbols: Sequence[str] | Mapping[str, float] | None = None,
        interval: float = 0.5,
        volatility: float = 0.05,
        seed: int | None = 0,
        clock: Clock | None = None,
        *,
        max_steps: int | None = None,
        tick_size: float | None = 0.05,
        start_price: float = 1000.0,
        name: str = "random_walk",
        sleep: SleepFunction = asyncio.sleep,
        calendar: NSECalendar | None = None,
        instruments: Iterable[Instrument] | Mapping[str, Instrument] | None = None,
        underlying_prices: Mapping[str, float] | None = None,
        smiles: Mapping[str, Smile] | Smile | None = None,
        rate: float = DEFAULT_RATE,
        dividend_yield: float = DEFAULT_DIVIDEND_YIELD,
        quotes: bool = False,
        depth: int = DEPTH,
        spread_ticks: int = 2,
        level_size: int = 100,
    ) -> None:
        super().__init__(name)
        self.calendar = checked_calendar(calendar)
        if symbols is None:
            from oms_kit.instruments import default_instruments

            symbols = list(default_instruments())
        if isinstance(symbols, str):
            # A bare string would otherwise walk each of its letters.
            symbols = [symbols]
        if isinstance(symbols, Mapping):
            starts = {
                str(s): positive_finite(p, f"start price of {s}", "a positive number") for s, p in symbols.items()
            }
        else:
            start_price = positive_finite(start_price, "start_price", "a positive number")
            starts = {str(s): start_price for s in symbols}
        if not starts:
            raise ConfigError("symbols", symbols, "at least one symbol")
        for symbol, price in starts.items():
            if not math.isfinite(price) or price <= 0:
                raise ConfigError(f"start price of {symbol}", price, "a positive number")
        self.interval = positive_finite(interval, "interval", "seconds >= 0")
        self.volatility = positive_finite(volatility, "volatility", "a percentage >= 0")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0):
            raise ConfigError("max_steps", max_steps, "a whole number >= 0, or None")
        if tick_size is not None:
            tick_size = positive_finite(tick_size, "tick_size", "a positive number, or None")
            if tick_size == 0:
                raise ConfigError("tick_size", tick_size, "a positive number, or None")
        if not isinstance(quotes, bool):
            raise ConfigError("quotes", quotes, "True (send quotes with a book) or False (bars)")
        for name_, value, low, high in (("depth", depth, 1, DEPTH), ("spread_ticks", spread_ticks, 1, 10_000),
                                        ("level_size", level_size, 1, 10**9)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(name_, value, f"a whole number from {low} to {high:,}")
        self.quotes, self.depth, self.spread_ticks, self.level_size = quotes, depth, spread_ticks, level_size
        self._book_random = random.Random(None if seed is None else f"book:{seed}")
        self.seed = seed
        self.max_steps = max_steps
        self.tick_size = tick_size
        self.clock: Clock = clock if clock is not None else LiveClock()
        self._sleep = sleep
        self._random = random.Random(seed)
        self._symbols = list(starts)
        self._prices = dict(starts)  # unrounded, so small prices do not stick to a tick
        self._last_close = {s: self._round(p) for s, p in starts.items()}
        self._steps = 0
        self._pending: list[Bar] = []  # the rest of a step whose consumer was cancelled part-way
        self._pricer = _pricer(instruments, smiles, rate, dividend_yield)
        self.rate, self.dividend_yield = self._pricer.rate, self._pricer.dividend_yield
        self._contracts: list[str] = []
        self._hidden: list[str] = []  # underlyings walked without bars (an index)
        self._priced_at = self.clock.now().timestamp()  # the time of the contracts' last prices
        if len(self._pricer):
            self._add_contracts(underlying_prices, start_price)
        elif underlying_prices is not None:
            raise ConfigError("underlying_prices", underlying_prices,
                              "None: the feed quotes no futures or options (give instruments= with some)")

    def _add_contracts(self, underlying_prices: Mapping[str, float] | None, start_price: float) -> None:
        pricer = self._pricer
        self._contracts = [c.symbol for c in pricer.contracts]
        for symbol in self._contracts:
            if symbol in self._prices:
                raise ConfigError("symbols", symbol, "symbols other than those of the futures and options, which "
                                  "the feed prices from their underlying")
        if underlying_prices is not None and not isinstance(underlying_prices, Mapping):
            raise ConfigError("underlying_prices", underlying_prices, "a mapping of underlying to a start level")
        given = dict(underlying_prices or {})
        for name, level in given.items():
            if name not in pricer.underlyings or name in self._prices:
                raise ConfigError("underlying_prices", {name: level}, "start levels of the instruments' "
                                  "underlyings that are not among symbols: " + ", ".join(
                                      u for u in pricer.underlyings if u not in self._prices))
            positive_finite(level, f"start level of {name}", "a positive number")
            if level == 0:
                raise ConfigError(f"start level of {name}", level, "a positive number")
        # Underlyings walked here without bars of their own, on a generator of their own: the symbols' walk is the
        # one the seed gives without contracts.
        self._hidden = [u for u in pricer.underlyings if u not in self._prices]
        self._hidden_random = random.Random(None if self.seed is None else f"underlyings:{self.seed}")
        for name in self._hidden:
            start = given.get(name)
            self._prices[name] = float(start if start is not None else pricer.middle_strike(name) or start_price)
        closes = pricer.rounded(pricer.prices([self._prices[u] for u in pricer.underlyings], self._priced_at))
        self._last_close.update(zip(self._contracts, closes, strict=True))

    @property
    def symbols(self) -> list[str]:
        """The symbols, then the futures and options, in the order each step yields them."""
        return self._symbols + self._contracts

    @property
    def contracts(self) -> list[str]:
        """The futures and options the feed quotes, in the order each step yields them (after the symbols)."""
        return list(self._contracts)

    def underlying_prices(self) -> dict[str, float]:
        """The current level of each underlying of the futures and options (unrounded: an index walks here)."""
        return {u: self._prices[u] for u in self._pricer.underlyings}

    def smile(self, underlying: str) -> Smile:
        """The volatility smile ``underlying``'s options are priced on.

        Raises
        ------
        ConfigError
            The feed quotes no options of ``underlying``.
        """
        found = self._pricer.smiles.get(underlying) if isinstance(underlying, str) else None
        if found is None:
            raise ConfigError("underlying", underlying, self._underlyings_allowed())
        return found

    def forward(self, underlying: str, expiry: date) -> float:
        """The forward of ``underlying`` for ``expiry`` at the last prices: its level carried to the expiry's
        close (15:30 in Asia/Kolkata) from the time of the last step (or of the feed's creation): the price its
        future of that expiry has before rounding, and the forward its options of that expiry are priced on.

        Raises
        ------
        ConfigError
            ``underlying`` is not an underlying of the feed's contracts, or ``expiry`` is not a date.
        """
        if not isinstance(underlying, str) or underlying not in self._pricer.smiles:
            raise ConfigError("underlying", underlying, self._underlyings_allowed())
        if not isinstance(expiry, date) or isinstance(expiry, datetime):
            raise ConfigError("expiry", expiry, "a datetime.date")
        years = years_to_expiry(expiry, self._priced_at)
        return self._prices[underlying] * math.exp((self.rate - self.dividend_yield) * years)

    def _underlyings_allowed(self) -> str:
        names = self._pricer.underlyings
        return ("an underlying of the feed's futures and options: " + ", ".join(names)) if names \
            else "nothing: the feed quotes no futures or options (give instruments=)"

    def last_prices(self) -> dict[str, float]:
        """The last close sent for each symbol (the start prices before the first step)."""
        return dict(self._last_close)

    def _round(self, price: float) -> float:
        if self.tick_size is None:
            return price
        ticks = max(1, round(price / self.tick_size))
        # round(…, 10) trims float noise such as 2500.0500000000002 from the multiplication.
        return round(ticks * self.tick_size, 10)

    def _step(self) -> list[Bar]:
        now = self.clock.now()
        sigma = self.volatility / 100.0
        first = self._steps == 0
        bars: list[Bar] = []
        for symbol in self._symbols:
            if not first:
                # exp() of a normal return: a geometric walk never reaches zero or goes negative.
                self._prices[symbol] *= math.exp(sigma * self._random.gauss(0.0, 1.0))
            open_ = self._last_close[symbol]
            close = self._round(self._prices[symbol])
            if self.quotes:
                bars.append(self._quote(now, symbol, close, self.tick_size or 0.05))
            else:
                bars.append(Bar(now, symbol, open_, max(open_, close), min(open_, close), close, math.nan))
            self._last_close[symbol] = close
        if self._contracts:
            self._step_contracts(now, first, sigma, bars)
        self._steps += 1
        return bars

    def _step_contracts(self, now: datetime, first: bool, sigma: float, bars: list[Bar]) -> None:
        prices, last_close = self._prices, self._last_close
        if not first:
            for name in self._hidden:
                prices[name] *= math.exp(sigma * self._hidden_random.gauss(0.0, 1.0))
        pricer = self._pricer
        self._priced_at = at = now.timestamp()
        closes = pricer.rounded(pricer.prices([prices[u] for u in pricer.underlyings], at))
        for contract, close in zip(pricer.contracts, closes, strict=True):
            symbol = contract.symbol
            open_ = last_close[symbol]
            if self.quotes:
                bars.append(self._quote(now, symbol, close, float(contract.tick_size)))
            else:
                bars.append(Bar(now, symbol, open_, max(open_, close), min(open_, close), close, math.nan))
            last_close[symbol] = close

    def _quote(self, now: datetime, symbol: str, last: float, tick: float) -> Quote:
        # The book sits around the last price: the best bid half the spread below it (whole ticks, rounded down),
        # the best ask the spread above the bid; a level at or under zero is left out.
        draw, most = self._book_random.randint, 2 * self.level_size - 1
        bid = last - (self.spread_ticks // 2) * tick
        ask = bid + self.spread_ticks * tick
        bids = [(round(bid - k * tick, 10), draw(1, most)) for k in range(self.depth)]
        asks = [(round(ask + k * tick, 10), draw(1, most)) for k in range(self.depth)]
        return Quote(now, symbol, last, float(draw(0, most)), [b for b in bids if b[0] >= tick / 2], asks)

    async def stream(self) -> AsyncIterator[Bar]:
        """Yield one bar per symbol per step until ``max_steps`` (or forever), waiting ``interval`` between steps.

        Yields
        ------
        Bar
        """
        self._begin()
        try:
            while True:
                if not self._pending:
                    if self.max_steps is not None and self._steps >= self.max_steps:
                        self._finished = True
                        return
                    if self.calendar is not None and not self._market_open():
                        await self._sleep(max(self.interval, 1.0))  # no prices while the market is closed
                        continue
                    if self._steps > 0:
                        # Also when interval is 0: sleep(0) lets the OMS's other tasks and the widgets run.
                        await self._sleep(self.interval)
                    self._pending = self._step()
                while self._pending:
                    bar = self._pending.pop(0)
                    self._updates_sent += 1
                    self._last_update_at = bar.timestamp
                    yield bar
        finally:
            self._running = False

    def _market_open(self) -> bool:
        try:
            return self.calendar.is_open(self.clock.now())  # type: ignore[union-attr]
        except (DataError, ConfigError):  # a year the calendar has no holidays for: closed, like the OMS's check
            return False

    def status(self) -> dict[str, Any]:
        """Return the feed's state: running, updates sent, last update time, steps, last prices and settings."""
        return {
            **self._base_status(),
            "session": "its own, open at any hour" if self.calendar is None else repr(self.calendar),
            "steps": self._steps,
            "symbols": self.symbols,
            "prices": self.last_prices(),
            "underlyings": self.underlying_prices(),
            "interval": self.interval,
            "volatility_pct": self.volatility,
            "seed": self.seed,
            "max_steps": self.max_steps,
            "quotes": self.quotes,
        }

    def __repr__(self) -> str:
        contracts = f", {len(self._contracts)} futures and options" if self._contracts else ""
        return (
            f"RandomWalkFeed({len(self._symbols)} symbols{contracts}, interval={self.interval}, seed={self.seed}, "
            f"steps={self._steps})"
        )


def _pricer(instruments: object, smiles: object, rate: object, dividend_yield: object) -> ContractPricer:
    if instruments is None:
        items: Iterable[Instrument] = ()
    elif isinstance(instruments, Mapping):
        items = instruments.values()
    elif isinstance(instruments, str | bytes) or not isinstance(instruments, Iterable):
        raise ConfigError("instruments", instruments, "instruments (an iterable of Instrument, a mapping of symbol "
                          "to Instrument, an Instruments master) or None")
    else:
        items = instruments
    return ContractPricer(items, smiles, rate, dividend_yield)  # type: ignore[arg-type]
