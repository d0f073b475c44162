"""The time of a SPAN-style portfolio margin (oms_kit.margin.portfolio_margin) of a 20-leg portfolio.

The portfolio: four underlyings (two indices, two stocks), three expiries, futures and options long and short,
volatilities from ``iv``, from option prices (implied on every call) and from the defaults. Each run margins it
from scratch (legs netted, forwards and volatilities found, 17 Black-76 values per option: now and 16 scenarios).

The reference, timed in the same run: one vectorised Black-76 pricing of the same grid, 20 legs x 16 scenarios,
with ``oms_kit.black76.price_array`` (the margin's floor: it cannot be faster than pricing its grid once). The
ratio says what the margin costs around that pricing. Target: a median under 5 ms. Prints figures; asserts
nothing.

    python benchmarks/bench_margin.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date, datetime

import numpy as np

from oms_kit import black76
from oms_kit.margin import Leg, margin_impact, portfolio_margin

AT = datetime(2026, 12, 7, 10, 0)
EXPIRIES = (date(2026, 12, 29), date(2027, 1, 26), date(2027, 2, 23))
UNDERLYINGS = (("NIFTY", 24000.0, 75, 250), ("BANKNIFTY", 52000.0, 30, 500), ("RELIANCE", 1500.0, 500, 20),
               ("TCS", 4000.0, 175, 50))
PRICES = {name: price for name, price, _, _ in UNDERLYINGS}


def portfolio() -> list[Leg]:
    """Twenty legs: per underlying a future and four options over three expiries, long and short."""
    legs = []
    for u, (name, spot, lot, step) in enumerate(UNDERLYINGS):
        for k, (kind, offset, lots) in enumerate((("FUT", 0, 1), ("CE", 2, -2), ("PE", -2, -2), ("CE", 4, 1),
                                                   ("PE", -4, 1))):
            expiry = EXPIRIES[(u + k) % 3]
            strike = None if kind == "FUT" else spot + offset * step
            extra: dict[str, float] = {}
            if kind != "FUT" and k % 2:
                extra["iv"] = 0.16 + 0.01 * u
            elif kind != "FUT":
                years = (datetime.combine(expiry, datetime.min.time()) - AT).days / 365
                extra["price"] = black76.price(spot, strike, years, 0.2, 0.0, kind)
            legs.append(Leg(name, kind, strike, expiry, lots * lot, lot, **extra))
    return legs


def timed(call, runs: int) -> list[float]:
    call()  # warm: first-call imports and caches
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def describe(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(f"{name:<48} median {median:8.3f} ms   p99 {p99:8.3f} ms")
    return median


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    legs = portfolio()
    assert len(legs) == 20
    result = portfolio_margin(legs, PRICES, at=AT)
    print(result.to_frame()[["legs", "scan_risk", "span", "short_option_minimum", "exposure", "total"]]
          .round(0).to_string())
    print(f"total {result.total:,.0f}\n")

    # The reference grid: the same 20 legs' forwards, strikes and volatilities x 16 scenario moves.
    rng = np.random.default_rng(7)
    forward = rng.uniform(1500, 52000, (20, 1)) * (1 + 0.093 * np.linspace(-2, 2, 16))[None, :]
    strike = forward[:, :1] * rng.uniform(0.9, 1.1, (20, 1))
    years = rng.uniform(0.05, 0.25, (20, 1))
    vol = rng.uniform(0.1, 0.3, (20, 16))
    is_call = rng.random((20, 1)) < 0.5
    rate = np.asarray(0.0)

    reference = describe("reference: Black-76 on 20 legs x 16 scenarios",
                         timed(lambda: black76.price_array(forward, strike, years, vol, rate, is_call), runs))
    median = describe("portfolio_margin, 20 legs", timed(lambda: portfolio_margin(legs, PRICES, at=AT), runs))
    new = [Leg("NIFTY", "PE", 23000.0, EXPIRIES[0], 75, 75)]
    impact = describe("margin_impact (3 margins), 20 legs + 1",
                      timed(lambda: margin_impact(legs, new, PRICES, at=AT), max(runs // 4, 1)))
    print(f"\nratio portfolio_margin / reference: {median / reference:.1f}x; margin_impact / reference: "
          f"{impact / reference:.1f}x; target: portfolio_margin under 5 ms "
          f"({'met' if median < 5 else 'NOT met'})")


if __name__ == "__main__":
    main()
