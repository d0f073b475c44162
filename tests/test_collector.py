"""When the garbage collector's full passes run: held off by holders (backtests, open OMS instances) and given
back by the last of them; run by ``collect_when_quiet`` when one is due and the orders pause, or when they never do.

Full passes are watched through ``gc.callbacks`` (generation 2), not through the module's own counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit import collector

NEVER = 10**6  # a held threshold is above this: no full pass of Python's own within any test
MINE = (650, 9, 11)  # thresholds unlike the defaults, to see that these very ones come back


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[None]:
    original = gc.get_threshold()
    gc.set_threshold(*MINE)
    yield
    gc.set_threshold(*original)


@contextlib.contextmanager
def full_passes() -> Iterator[list[tuple[float, float]]]:
    """(start, end) of each generation-2 pass while the block runs, on the monotonic clock."""
    passes: list[tuple[float, float]] = []
    started: list[float] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started.append(time.monotonic())
            else:
                passes.append((started.pop(), time.monotonic()))

    gc.callbacks.append(watch)
    try:
        yield passes
    finally:
        gc.callbacks.remove(watch)


class Counting:
    """An activity reading that counts its reads (the beats), constant or changing at every read."""

    def __init__(self, changing: bool) -> None:
        self.reads = 0
        self.changing = changing

    def __call__(self) -> int:
        self.reads += 1
        return self.reads if self.changing else 0


async def until(condition: Callable[[], object]) -> None:
    for _ in range(3000):  # up to 30 s of a slow machine; the behaviour, not its speed, is under test
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@contextlib.asynccontextmanager
async def collecting(activity: Callable[[], object], **options: Any) -> Any:
    release = collector.hold()
    task = asyncio.create_task(collector.collect_when_quiet(activity, release=release, **options))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def held() -> bool:
    return gc.get_threshold()[:2] == MINE[:2] and gc.get_threshold()[2] > NEVER


# -- holding ------------------------------------------------------------------------------------------------------


def test_a_hold_keeps_the_young_generations_thresholds_and_its_release_puts_the_full_pass_threshold_back():
    release = collector.hold()
    assert held()
    release()
    assert gc.get_threshold() == MINE


def test_releasing_a_hold_twice_releases_it_once_and_leaves_another_hold_standing():
    first, second = collector.hold(), collector.hold()
    first()
    first()
    assert held()
    second()
    assert gc.get_threshold() == MINE


def test_holds_that_overlap_in_threads_give_the_thresholds_back_when_the_last_is_released_not_the_first():
    first_holds, second_holds, first_released = threading.Event(), threading.Event(), threading.Event()
    outcomes: list[bool] = []

    def first() -> None:
        with collector.held():
            first_holds.set()
            assert second_holds.wait(30)
        first_released.set()

    def second() -> None:
        assert first_holds.wait(30)
        release = collector.hold()
        second_holds.set()
        assert first_released.wait(30)
        outcomes.append(held())  # the first has let go; this one still holds
        release()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert outcomes == [True]
    assert gc.get_threshold() == MINE


def test_held_lets_go_when_its_block_raises():
    with pytest.raises(RuntimeError, match="inside"), collector.held():
        assert held()
        raise RuntimeError("inside")
    assert gc.get_threshold() == MINE


# -- collecting ---------------------------------------------------------------------------------------------------


async def test_a_due_full_pass_runs_when_the_activity_stays_the_same_for_a_beat():
    gc.set_threshold(MINE[0], MINE[1], 0)  # due at once: Python would run a full pass at its next chance
    with full_passes() as passes:
        async with collecting(Counting(changing=False), beat=0.01, duty=1, longest=math.inf) as task:
            await until(lambda: passes)
            assert not task.done()
    assert collector.figures()["full_passes"] >= 1 and collector.figures()["last_full_pass_ms"] >= 0
    assert gc.get_threshold() == (MINE[0], MINE[1], 0)  # the task's end released the hold


async def test_no_full_pass_runs_while_quiet_before_python_would_have_run_one():
    gc.set_threshold(MINE[0], MINE[1], NEVER)  # as many middle-generation passes as no test makes
    beats = Counting(changing=False)
    with full_passes() as passes:
        async with collecting(beats, beat=0.005, duty=1, longest=0.01):
            await until(lambda: beats.reads > 40)
    assert passes == []


async def test_while_the_activity_keeps_changing_a_due_pass_waits_for_longest_since_the_last_one():
    gc.set_threshold(MINE[0], MINE[1], 0)
    busy = Counting(changing=True)
    with full_passes() as passes:
        async with collecting(busy, beat=0.005, duty=1, longest=math.inf):
            await until(lambda: busy.reads > 40)
        assert passes == []  # never quiet, and no longest: no pass at all

        async with collecting(busy, beat=0.005, duty=1, longest=0.2):
            await until(lambda: len(passes) >= 2)
    (_, first_end), (second_start, _) = passes[:2]
    assert second_start - first_end >= 0.2


async def test_full_passes_are_spaced_by_their_duration_over_the_duty_across_every_collector_of_the_process():
    gc.set_threshold(MINE[0], MINE[1], 0)
    with full_passes() as passes:
        # Two OMS instances' collectors: the spacing is the process's, not each one's.
        async with collecting(Counting(changing=False), beat=0.002, duty=0.5, longest=math.inf), \
                collecting(Counting(changing=False), beat=0.003, duty=0.5, longest=math.inf):
            await until(lambda: len(passes) >= 3)
    for (start, end), (next_start, _) in itertools.pairwise(passes):
        assert next_start - end >= (end - start) / 0.5


async def test_a_disabled_collector_gets_no_full_pass():
    gc.set_threshold(MINE[0], MINE[1], 0)
    beats = Counting(changing=False)
    gc.disable()
    try:
        with full_passes() as passes:
            async with collecting(beats, beat=0.005, duty=1, longest=0.01):
                await until(lambda: beats.reads > 20)
    finally:
        gc.enable()
    assert passes == []


HOSTILE = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
           | st.sampled_from([[], {}, object(), b"1", Decimal("1"), Decimal("NaN"), 1j, 10**400, "0.25"]))
VALID: dict[str, Callable[[Any], bool]] = {
    "activity": callable,
    "beat": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 3600,
    "duty": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1,
    "longest": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
}


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(VALID)), value=HOSTILE)
def test_collect_when_quiet_refuses_a_hostile_setting_naming_it_and_still_releases_its_hold(field, value):
    async def scenario() -> None:
        released: list[bool] = []
        options = {"activity": lambda: 0, "beat": 0.01, "duty": 0.01, "longest": 60.0, field: value}
        task = asyncio.create_task(collector.collect_when_quiet(
            options.pop("activity"), release=lambda: released.append(True), **options))
        await asyncio.sleep(0)  # it checks its settings before its first beat
        if VALID[field](value):
            assert not task.done()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            with pytest.raises(ok.ConfigError) as error:
                await task
            assert error.value.field == field and error.value.value is value and field in str(error.value)
        assert released == [True]

    asyncio.run(scenario())


# -- an OMS -------------------------------------------------------------------------------------------------------


async def test_an_open_oms_holds_the_full_passes_and_runs_its_collector_until_it_closes():
    oms = await ok.OMS.open(feed=None)
    try:
        assert held()
        await asyncio.sleep(0)  # its first step has read the OMS's activity once
        assert oms.tasks.alive()["oms-kit-collector"] is True
        assert oms.status()["collector"]["holds"] == 1
    finally:
        await oms.close()
    assert gc.get_threshold() == MINE
    assert oms.tasks.alive()["oms-kit-collector"] is False


async def test_every_order_event_counts_as_activity_for_the_collector_a_modify_and_a_cancel_included():
    # The collector's task reads the recorder's count of order events: a burst of modifies alone is no pause.
    async with await ok.OMS.open(feed=None) as oms:
        await oms.set_price("TCS", 3500)
        seen = [oms.recorder.events]
        order = await oms.place_order("TCS", "BUY", 1, "LIMIT", 3400)
        seen.append(oms.recorder.events)
        await oms.modify_order(order.order_id, price=3401)
        seen.append(oms.recorder.events)
        await oms.cancel_order(order.order_id)
        seen.append(oms.recorder.events)
    assert seen[0] < seen[1] < seen[2] < seen[3]


async def test_without_quiet_collections_the_oms_leaves_the_collector_alone():
    async with await ok.OMS.open(feed=None, quiet_collections=False) as oms:
        assert gc.get_threshold() == MINE
        assert "oms-kit-collector" not in oms.tasks and oms.status()["collector"] is None
    assert gc.get_threshold() == MINE


async def test_two_oms_that_overlap_give_the_thresholds_back_when_the_last_closes():
    first = await ok.OMS.open(feed=None, account="first")
    second = await ok.OMS.open(feed=None, account="second")
    await first.close()
    assert held()
    await second.close()
    assert gc.get_threshold() == MINE


def test_an_oms_left_open_when_its_event_loop_ends_gives_the_thresholds_back():
    async def forgotten() -> bool:
        await ok.OMS.open(feed=None, risk_interval=None)
        return held()

    assert asyncio.run(forgotten()) is True
    assert gc.get_threshold() == MINE


async def test_a_read_only_oms_leaves_the_collector_alone(tmp_path: Path):
    url = f"duckdb:///{tmp_path}/watched.duckdb"
    await (await ok.OMS.open(url, feed=None)).close()
    async with await ok.OMS.open(url, feed=None, read_only=True) as watcher:
        assert gc.get_threshold() == MINE and watcher.status()["collector"] is None


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=HOSTILE | st.sampled_from([1, 0, "yes", "False", None, math.nan]))
def test_open_refuses_a_quiet_collections_that_is_not_a_bool_before_opening_anything(tmp_path: Path, value):
    database = tmp_path / "never.duckdb"

    async def scenario() -> None:
        with pytest.raises(ok.ConfigError) as error:
            await ok.OMS.open(f"duckdb:///{database}", feed=None, quiet_collections=value)
        assert error.value.field == "quiet_collections" and error.value.value is value
        assert "quiet_collections" in str(error.value)

    if not isinstance(value, bool):  # True and False are tested above
        asyncio.run(scenario())
        assert not database.exists() and gc.get_threshold() == MINE
