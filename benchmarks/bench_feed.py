"""Prices a second from the random-walk feed: equities alone, and with futures and options priced from their
underlying (oms_kit.market.fno).

Four feeds, each timed over STEPS steps, ROUNDS times (medians printed):

- ``equities``: the six symbols of ``OMS.open()``'s walk, the feed as it was before it priced contracts;
- ``sample chain``: the same six symbols and the 36 futures and options of ``Instruments.sample()`` (NIFTY and
  BANKNIFTY), on a simulated clock of the sample's day so that no contract has expired;
- ``wide chain``: the six symbols and a made-up NIFTY chain of 3 expiries x 81 strikes (486 options, 3 futures);
- ``wide chain, scalar``: the wide chain's option prices one ``black76.price`` call each, for scale: what the
  vectorised pricing (one ``price_array`` call a step) saves.

Each is measured twice: ``step`` calls the feed's step directly (the pricing and the bars), ``stream`` drains
``feed.stream()`` on an event loop (what the OMS's feed task pays before it handles a bar). Times are the
process's CPU time, so other work on a shared machine does not count. Prints figures; asserts nothing.

    python benchmarks/bench_feed.py [STEPS] [ROUNDS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np

from oms_kit import black76
from oms_kit.instrument_master import Instruments
from oms_kit.market.clock import SimulatedClock
from oms_kit.market.feeds import RandomWalkFeed
from oms_kit.market.fno import years_to_expiry
from oms_kit.tradable import Instrument

EQUITIES = {"RELIANCE": 2500.0, "TCS": 3900.0, "INFY": 1500.0, "HDFCBANK": 1650.0, "ICICIBANK": 1250.0,
            "SBIN": 800.0}
AT = datetime(2025, 11, 3, 4, 30, tzinfo=UTC)  # 10:00 in India on the sample's day


def wide_chain() -> list[Instrument]:
    """NIFTY: a future and 81 strikes (25,000 to 29,000 by 50) of calls and puts for each of three expiries."""
    items = []
    for expiry in (date(2025, 11, 25), date(2025, 12, 30), date(2026, 1, 27)):
        tag = expiry.strftime("%y%b").upper()
        items.append(Instrument(f"NIFTY{tag}FUT", "NFO", lot_size=75, instrument_type="FUT", underlying="NIFTY",
                                expiry=expiry))
        for strike in range(25_000, 29_001, 50):
            for kind in ("CE", "PE"):
                items.append(Instrument(f"NIFTY{tag}{strike}{kind}", "NFO", lot_size=75, instrument_type=kind,
                                        underlying="NIFTY", expiry=expiry, strike=Decimal(strike)))
    return items


def feed_of(instruments: list[Instrument] | None) -> RandomWalkFeed:
    return RandomWalkFeed(EQUITIES, interval=0, seed=1, instruments=instruments, clock=SimulatedClock(AT))


def scalar_step(feed: RandomWalkFeed) -> int:
    """The wide chain's options priced one call each, with the forward and smile the feed would use."""
    clock = feed.clock
    clock.advance(0.5)  # type: ignore[attr-defined]
    now = clock.now()
    level = feed.underlying_prices()["NIFTY"]
    smile = feed.smile("NIFTY")
    count = 0
    for item in feed._pricer.contracts:  # the feed's own contracts
        if not item.is_option:
            continue
        years = years_to_expiry(item.expiry, now)  # type: ignore[arg-type]
        forward = level * np.exp((feed.rate - feed.dividend_yield) * years)
        strike = float(item.strike)  # type: ignore[arg-type]
        black76.price(forward, strike, years, smile.vol_at(strike, forward), feed.rate, item.instrument_type)
        count += 1
    return count


def rate_of(call, steps: int) -> float:
    start = time.process_time()
    count = call(steps)
    return count / (time.process_time() - start)


def by_step(instruments: list[Instrument] | None):
    def run(steps: int) -> int:
        feed = feed_of(instruments)
        clock = feed.clock
        count = 0
        for _ in range(steps):
            clock.advance(0.5)  # type: ignore[attr-defined]
            count += len(feed._step())  # the step alone, without the event loop
        return count
    return run


def by_stream(instruments: list[Instrument] | None):
    async def drain(feed: RandomWalkFeed) -> int:
        count = 0
        async for _ in feed.stream():
            count += 1
        return count

    def run(steps: int) -> int:
        feed = feed_of(instruments)
        feed.max_steps = steps
        return asyncio.run(drain(feed))
    return run


def by_scalar(steps: int) -> int:
    feed = feed_of(wide_chain())
    return sum(scalar_step(feed) for _ in range(steps))


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    sample = list(Instruments.sample())
    wide = wide_chain()
    cases = [("equities", None, steps * 10), ("sample chain", sample, steps), ("wide chain", wide, steps // 10)]
    print(f"random-walk feed, prices a second (median of {rounds} rounds; the simulated clock moves 0.5 s a step)")
    for label, instruments, n in cases:
        size = len(feed_of(instruments).symbols)
        for how, make in (("step", by_step), ("stream", by_stream)):
            rates = [rate_of(make(instruments), n) for _ in range(rounds)]
            median = statistics.median(rates)
            print(f"  {label:<14} {size:>4} prices a step  {how:<6} {median:>11,.0f} prices/s  "
                  f"{1e6 * size / median:>8.1f} us a step")
    rates = [rate_of(by_scalar, max(1, steps // 20)) for _ in range(rounds)]
    median = statistics.median(rates)
    print(f"  {'wide, scalar':<14} {486:>4} options a step price {median:>11,.0f} options/s  "
          f"{1e6 * 486 / median:>8.1f} us a step (one black76.price call each, no bars)")


if __name__ == "__main__":
    main()
