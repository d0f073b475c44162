"""Make data/nse_minute.parquet: seeded synthetic one-minute bars for a few NSE-like symbols.

Run from the repository root: ``python data/make_nse_minute.py`` (the same seed writes the same file). The bars are
invented, not market data: a geometric random walk per symbol with a little intraday volatility smile, prices on
the 0.05 tick, the NSE cash session 09:15-15:30 IST (375 bars a day, Monday to Friday, no holidays), timestamps in
UTC. ``minute_bars()`` is also what ``benchmarks/bench_backtest.py`` uses to build its million-bar series.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SYMBOLS = {"RELIANCE": 2500.0, "TCS": 3900.0, "INFY": 1500.0, "HDFCBANK": 1650.0, "SBIN": 800.0}
SESSION_MINUTES = 375  # 09:15 to 15:30
TICK = 0.05


def minute_bars(symbols: dict[str, float] | None = None, days: int = 20, start: str = "2026-01-05",
                seed: int = 7, annual_volatility: float = 0.25) -> pd.DataFrame:
    """One-minute bars (timestamp, symbol, open, high, low, close, volume) for ``days`` weekdays from ``start``.

    Each symbol walks on its own seeded stream; the open of a bar is the previous close (overnight gaps aside),
    high and low reach a little beyond both, and volume follows the usual U shape of a trading day.
    """
    symbols = SYMBOLS if symbols is None else symbols
    dates = pd.bdate_range(start, periods=days)
    minutes = np.arange(SESSION_MINUTES)
    local = (dates.values[:, None] + np.timedelta64(9 * 60 + 15, "m") + minutes[None, :].astype("timedelta64[m]"))
    stamps = pd.DatetimeIndex(local.ravel()).tz_localize("Asia/Kolkata").tz_convert("UTC")
    count = len(stamps)
    sigma = annual_volatility / np.sqrt(252 * SESSION_MINUTES)
    smile = 1 + 0.8 * ((minutes - SESSION_MINUTES / 2) / (SESSION_MINUTES / 2)) ** 2  # busier open and close
    frames = []
    for number, (symbol, price) in enumerate(symbols.items()):
        rng = np.random.default_rng([seed, number])
        scale = np.tile(smile, days)
        steps = rng.standard_normal(count) * sigma * scale
        steps[::SESSION_MINUTES] += rng.standard_normal(days) * sigma * 8  # overnight gaps
        close = price * np.exp(np.cumsum(steps))
        open_ = np.concatenate(([price], close[:-1]))
        reach = np.abs(rng.standard_normal((2, count))) * sigma * scale * close * 0.6
        high = np.maximum(open_, close) + reach[0]
        low = np.minimum(open_, close) - reach[1]
        on_tick = [np.round(x / TICK) * TICK for x in (open_, high, low, close)]
        volume = np.round(rng.gamma(2.0, 500.0, count) * scale * price / 1000) + 1
        frames.append(pd.DataFrame({
            "timestamp": stamps, "symbol": symbol, "open": on_tick[0].round(2), "high": on_tick[1].round(2),
            "low": on_tick[2].round(2), "close": on_tick[3].round(2), "volume": volume,
        }))
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["timestamp", "symbol"], kind="stable", ignore_index=True)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("nse_minute.parquet")
    minute_bars().to_parquet(target, index=False)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
