"""Make data/us_stocks_daily.parquet from the stock prices in the ``bokeh-sampledata`` package.

Run from the repository root: ``pip install bokeh-sampledata && python data/make_us_stocks_daily.py`` (or pass the
path of the package's ``stocks.csv.gz``). The prices are copied unchanged; columns are renamed to the kit's bar
columns (Ticker -> symbol, Date -> timestamp, Adj Close -> adj_close). See data/README.md for source and licence.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

import pandas as pd


def main() -> None:
    if len(sys.argv) > 1:
        source = Path(sys.argv[1])
    else:
        source = Path(str(files("bokeh_sampledata").joinpath("_data", "stocks.csv.gz")))
    frame = pd.read_csv(source)
    frame = frame.rename(columns={"Ticker": "symbol", "Date": "timestamp", "Adj Close": "adj_close"})
    frame.columns = [c.lower() for c in frame.columns]
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame["volume"] = frame["volume"].astype("float64")
    frame = frame[["timestamp", "symbol", "open", "high", "low", "close", "volume", "adj_close"]]
    frame = frame.sort_values(["timestamp", "symbol"], kind="stable", ignore_index=True)
    target = Path(__file__).with_name("us_stocks_daily.parquet")
    frame.to_parquet(target, index=False)
    print(f"wrote {target}: {len(frame)} rows, {', '.join(sorted(frame['symbol'].unique()))}")


if __name__ == "__main__":
    main()
