"""Hostile values for the standing orders' other ways in: a strategy's ctx.bracket, ctx.cover, ctx.trail,
ctx.iceberg and ctx.gtt in a backtest, and place_gtt / modify_gtt on a DuckDB file. Each is refused with an
InvalidOrderError naming the field and what is allowed, and leaves nothing placed; or it works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import InvalidOrderError, OmsError
from oms_kit.market.clock import SimulatedClock

HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8), st.decimals(allow_nan=True), st.lists(st.integers(), max_size=3))
START = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def bars(count: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": [START + timedelta(minutes=i) for i in range(count)], "symbol": "INFY",
                         "open": 1500.0, "high": 1505.0, "low": 1495.0, "close": 1500.0, "volume": 1000.0})


class Hostile(ok.Strategy):
    values: tuple = ()

    def on_start(self, ctx):
        self.outcomes = []

    def on_bar(self, ctx, bar):
        if self.outcomes:
            return
        quantity, points, legs, trigger = self.values
        calls = {
            "bracket": lambda: ctx.bracket("INFY", "BUY", quantity, "MARKET", target=points, stoploss=points),
            "cover": lambda: ctx.cover("INFY", "SELL", quantity, stoploss=points, trail_percent=points),
            "trail": lambda: ctx.trail("INFY", "SELL", quantity, points=points),
            "iceberg": lambda: ctx.iceberg("INFY", "BUY", quantity, "LIMIT", 1500, legs=legs),
            "gtt": lambda: ctx.gtt("INFY", trigger, ok.OrderRequest("INFY", "BUY", 1)),
        }
        for name, call in calls.items():
            placed = len(ctx.open_orders())
            try:
                call()
                self.outcomes.append((name, "ok", None))
            except InvalidOrderError as exc:
                self.outcomes.append((name, exc.field, exc.allowed))
                assert len(ctx.open_orders()) == placed


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(quantity=HOSTILE, points=HOSTILE, legs=HOSTILE, trigger=HOSTILE)
def test_a_strategys_standing_orders_refuse_hostile_values_naming_the_field(quantity, points, legs, trigger):
    strategy = Hostile(values=(quantity, points, legs, trigger))
    result = ok.backtest(strategy, bars(), cash=10_000_000)
    assert len(strategy.outcomes) == 5
    for name, field, allowed in strategy.outcomes:
        assert field == "ok" or (field and allowed), (name, field, allowed)
    # what was refused placed nothing: every order of the run belongs to a call that worked
    assert len(result.orders) <= sum(3 for _, field, _ in strategy.outcomes if field == "ok") + 5


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(trigger=HOSTILE, order=st.one_of(HOSTILE, st.just(ok.OrderRequest("TCS", "BUY", 1))), kind=HOSTILE)
@pytest.mark.parametrize("store", ["memory", "file"])
async def test_hostile_gtts_are_refused_on_place_and_modify_and_change_nothing(store, tmp_path_factory, trigger,
                                                                               order, kind):
    url = "duckdb:///:memory:" if store == "memory" else f"duckdb:///{tmp_path_factory.mktemp('g')}/g.duckdb"
    oms = await ok.OMS.open(url, feed=None, risk_interval=None, clock=SimulatedClock(START))
    try:
        await oms.set_price("INFY", 1500)
        good = await oms.place_gtt("INFY", 1550, ok.OrderRequest("INFY", "BUY", 1))
        before = oms.gtts().to_dict("records")
        for call in (lambda: oms.place_gtt("INFY", trigger, order, kind=kind),
                     lambda: oms.modify_gtt(good.gtt_id, trigger, order)):
            try:
                await call()
            except InvalidOrderError as exc:
                assert exc.field and exc.allowed
                assert oms.gtts().to_dict("records")[:len(before)] == before
            except OmsError as exc:  # a kind that is not a text is refused with the field named too
                pytest.fail(f"not an InvalidOrderError: {exc!r}")
        await oms.flush()
    finally:
        await oms.close()
