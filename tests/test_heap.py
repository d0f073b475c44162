"""The heap frozen once when trading starts (``oms_kit/heap.py``), seen in fresh processes: the first OMS or backtest
freezes what exists, later ones do not, an OMS dropped without ``close()`` is still collected, and
``OMS_KIT_FREEZE_HEAP=0`` leaves the collector alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """
import asyncio, gc, json, sys, weakref
import pandas as pd
import oms_kit as ok

def strategy():
    class Hold(ok.Strategy):
        def on_bar(self, ctx, bar):
            pass
    return Hold()

async def main():
    seen = {"imported": gc.get_freeze_count()}
    if sys.argv[1] == "backtest":
        bars = pd.DataFrame({"ts": pd.date_range("2026-01-05 04:00", periods=5, freq="min", tz="UTC"),
                             "symbol": "RELIANCE", "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0,
                             "volume": 10})
        ok.backtest(strategy(), bars, progress=False)
        seen["after_backtest"] = gc.get_freeze_count()
    first = await ok.OMS.open(feed=None, risk_interval=None)
    seen["after_first_open"] = gc.get_freeze_count()
    dropped = weakref.ref(first)  # the notebook opens again without closing the first one
    del first
    second = await ok.OMS.open(feed=None, risk_interval=None)
    seen["after_second_open"] = gc.get_freeze_count()
    await asyncio.sleep(1.5)  # the first one's write-behind timer (storage/behind.py) holds it for a second
    gc.collect()
    seen["dropped_collected"] = dropped() is None
    await second.close()
    print(json.dumps(seen))

asyncio.run(main())
"""


def run(mode: str, freeze: str | None = None) -> dict[str, object]:
    environment = {key: value for key, value in os.environ.items() if key != "OMS_KIT_FREEZE_HEAP"}
    if freeze is not None:
        environment["OMS_KIT_FREEZE_HEAP"] = freeze
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, cwd=ROOT,
                          env=environment, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_first_open_freezes_the_heap_once_and_a_dropped_oms_is_still_collected() -> None:
    seen = run("oms")

    assert seen["imported"] == 0
    frozen = seen["after_first_open"]
    assert isinstance(frozen, int) and frozen > 10_000  # modules, classes, functions: the imported heap
    # Once a process: a second freeze would add the first OMS (thousands of objects); frozen objects that die
    # leave the count, so it may only fall.
    assert isinstance(seen["after_second_open"], int) and seen["after_second_open"] <= frozen
    assert seen["dropped_collected"] is True  # made after the freeze, so the collector still reclaims it


def test_a_backtest_freezes_first_and_the_oms_opened_after_adds_nothing() -> None:
    seen = run("backtest")

    frozen = seen["after_backtest"]
    assert isinstance(frozen, int) and frozen > 10_000
    assert isinstance(seen["after_first_open"], int) and isinstance(seen["after_second_open"], int)
    assert seen["after_second_open"] <= seen["after_first_open"] <= frozen
    assert seen["dropped_collected"] is True


def test_OMS_KIT_FREEZE_HEAP_0_leaves_the_collector_alone() -> None:
    seen = run("oms", freeze="0")

    assert seen["after_first_open"] == seen["after_second_open"] == 0
    assert seen["dropped_collected"] is True
