"""What a walk-forward did: the stitched out-of-sample equity, the choice of each window, how stable it was."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from oms_kit.backtest import BacktestResult
from oms_kit.strategy import Strategy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["WalkForwardResult"]

_TRADING_DAYS = 252


@dataclass(eq=False)
class WalkForwardResult:
    """The result of :func:`~oms_kit.walkforward.walk_forward`.

    Attributes
    ----------
    equity : Series
        The out-of-sample equity: each test window's backtest equity curve, one after the other (each window
        starts with the previous one's final equity as cash).
    windows : DataFrame
        One row per window: window, train_start, train_end (= test_start), test_start, test_end (spans half-open),
        the chosen value of each parameter, in_sample (the objective of the chosen set on the training span),
        out_of_sample (the objective of its test backtest), final_equity.
    sweeps : list of DataFrame
        Per window, every set tried on the training span: the parameters, the stats and ``objective``.
    tests : list of BacktestResult
        The test backtests, one per window.
    objective : str
        The objective's name (a function's ``__name__``).
    parameters : list of str
        The parameters swept.
    anchored : bool
        Whether the training windows all started at the first bar.
    train, test : Timedelta or DateOffset
        The window lengths, as parsed.
    """

    strategy_class: type[Strategy]
    objective: str
    parameters: list[str]
    windows: pd.DataFrame
    equity: pd.Series
    sweeps: list[pd.DataFrame] = field(repr=False)
    tests: list[BacktestResult] = field(repr=False)
    anchored: bool = False
    train: Any = None
    test: Any = None

    @cached_property
    def stability(self) -> pd.DataFrame:
        """How often each value of each parameter was chosen: one row per (parameter, value) with ``chosen``
        (windows), ``share`` (of the windows) and the mean ``in_sample`` and ``out_of_sample`` objective of the
        windows that chose it. Rows follow the parameters' order, the most chosen value first."""
        rows = []
        for name in self.parameters:
            groups: dict[Any, list[int]] = {}
            for position, value in enumerate(self.windows[name]):
                groups.setdefault(_key(value), []).append(position)
            for value, positions in groups.items():
                chosen = self.windows.iloc[positions]
                rows.append({"parameter": name, "value": value, "chosen": len(positions),
                             "share": len(positions) / len(self.windows),
                             "in_sample": chosen["in_sample"].mean(), "out_of_sample": chosen["out_of_sample"].mean()})
        table = pd.DataFrame(rows, columns=["parameter", "value", "chosen", "share", "in_sample", "out_of_sample"])
        order = {name: rank for rank, name in enumerate(self.parameters)}
        table = table.sort_values(["parameter", "chosen"], key=lambda column: column.map(order)
                                  if column.name == "parameter" else -column, kind="stable")
        return table.reset_index(drop=True)

    @cached_property
    def stats(self) -> pd.Series:
        """The out-of-sample equity's figures: start, end, windows, initial_cash, final_equity, total_return,
        sharpe (daily returns, 252 a year; NaN with fewer than two days that vary), max_drawdown (a fraction,
        0 or negative), and the mean in_sample and out_of_sample objective."""
        equity = self.equity
        initial = float(self.tests[0].initial_cash)
        daily = equity.resample("1D").last().dropna().pct_change().dropna()
        std = daily.std()
        sharpe = float(daily.mean() / std * np.sqrt(_TRADING_DAYS)) if len(daily) > 1 and std > 0 else float("nan")
        peak = equity.cummax()
        drawdown = float((equity / peak - 1).where(peak > 0, 0.0).min())
        return pd.Series({
            "start": equity.index[0], "end": equity.index[-1], "windows": len(self.windows),
            "initial_cash": initial, "final_equity": float(equity.iloc[-1]),
            "total_return": float(equity.iloc[-1]) / initial - 1, "sharpe": sharpe, "max_drawdown": drawdown,
            "in_sample": float(self.windows["in_sample"].mean()),
            "out_of_sample": float(self.windows["out_of_sample"].mean()),
        }, name=f"walk-forward {self.strategy_class.__name__}", dtype=object)

    def plot(self, title: str | None = None) -> Figure:
        """The out-of-sample equity with its test windows shaded, and the in-sample against the out-of-sample
        objective per window (matplotlib); returns the Figure."""
        import matplotlib.pyplot as plt

        fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), height_ratios=(3, 2))
        top.plot(self.equity.index, self.equity.to_numpy(), linewidth=1, color="tab:blue")
        end = self.equity.index[-1]
        for row in cast(Iterable[Any], self.windows.itertuples()):  # rows of named fields
            if row.window % 2:  # every other test window shaded, up to the last bar
                top.axvspan(row.test_start, min(row.test_end, end), color="0.9", linewidth=0)
        top.set_ylabel("out-of-sample equity")
        top.set_title(title or f"walk-forward {self.strategy_class.__name__}: {len(self.windows)} windows, "
                               f"total return {self.stats['total_return']:.2%}")
        top.grid(alpha=0.3)
        positions = np.arange(len(self.windows))
        bottom.bar(positions - 0.2, self.windows["in_sample"], width=0.4, label="in sample")
        bottom.bar(positions + 0.2, self.windows["out_of_sample"], width=0.4, label="out of sample")
        bottom.axhline(0, color="0.5", linewidth=0.8)
        bottom.set_xticks(positions, [f"{stamp:%Y-%m-%d}" for stamp in self.windows["test_start"]],
                          rotation=45, ha="right", fontsize=8)
        bottom.set_ylabel(self.objective)
        bottom.legend(fontsize=8)
        bottom.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        plt.close(fig)  # returned for display; not left open in pyplot's list of figures
        return fig

    def __repr__(self) -> str:
        return (f"<WalkForwardResult {self.strategy_class.__name__} windows={len(self.windows)} "
                f"objective={self.objective} final_equity={float(self.equity.iloc[-1]):.2f}>")


def _key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)  # a list or dict as a parameter value: counted by its text
    return value
