"""ok.sweep: many backtests of one strategy class in parallel, one row of stats per parameter set."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import oms_kit as ok
from oms_kit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "nse_minute.parquet"


class Crossover(ok.Strategy):
    fast = 10
    slow = 30

    def on_bar(self, ctx, bar):
        closes = ctx.closes(bar.symbol, self.slow)
        if len(closes) < self.slow:
            return
        fast, slow = sum(closes[-self.fast:]) / self.fast, sum(closes) / self.slow
        held = ctx.position(bar.symbol)
        if fast > slow and held <= 0:
            ctx.buy(bar.symbol, 10 - held)
        elif fast < slow and held >= 0:
            ctx.sell(bar.symbol, 10 + held)


def small_data() -> pd.DataFrame:
    frame = pd.read_parquet(DATA)
    return frame[frame["symbol"] == "TCS"].iloc[:1_500]


def test_sweep_runs_every_combination_in_processes_and_matches_single_backtests():
    data = small_data()
    table = ok.sweep(Crossover, {"fast": [3, 5], "slow": [10, 20]}, data=data, max_workers=2, fees=None)

    assert table[["fast", "slow"]].values.tolist() == [[3, 10], [3, 20], [5, 10], [5, 20]]
    for row in table.itertuples():
        single = ok.backtest(Crossover(fast=row.fast, slow=row.slow), data, fees=None).stats
        assert row.trades == single["trades"]
        assert row.final_equity == pytest.approx(single["final_equity"])
    assert {"total_return", "sharpe", "max_drawdown", "win_rate", "profit_factor", "exposure", "fees",
            "bars_per_second"} <= set(table.columns)


def test_sweep_takes_any_executor_and_a_list_of_parameter_sets(capsys):
    with ThreadPoolExecutor(max_workers=2) as executor:
        table = ok.sweep(Crossover, [{"fast": 3, "slow": 12}, {"fast": 4}], data=str(DATA), symbol="SBIN",
                         executor=executor, progress=True)
    assert "2/2" in capsys.readouterr().err
    assert table["fast"].tolist() == [3, 4]
    assert table["slow"].tolist()[0] == 12 and pd.isna(table["slow"].tolist()[1])
    assert (table["bars"] == 7_500).all()


def test_sweep_refuses_an_unknown_parameter_naming_the_known_ones():
    with pytest.raises(ConfigError, match="fast, slow"):
        ok.sweep(Crossover, {"fsat": [1]}, data=small_data())


def test_sweep_refuses_an_instance_and_an_empty_grid():
    with pytest.raises(ConfigError, match="strategy_class"):
        ok.sweep(Crossover(), {"fast": [1]}, data=small_data())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="grid"):
        ok.sweep(Crossover, [], data=small_data())
    with pytest.raises(ConfigError, match="grid") as caught:
        ok.sweep(Crossover, 42, data=small_data())  # type: ignore[arg-type]
    assert caught.value.value == "int"
