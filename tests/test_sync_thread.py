"""open_sync in a plain script: the OMS on a loop of its own in a daemon thread (``sync.LoopThread``, which the
blocking client shares), refusing a call from that thread rather than waiting for itself, leaving no thread behind
an OMS that did not open, and refusing calls once closed."""

from __future__ import annotations

import threading

import pytest

import oms_kit as ok

THREAD = "oms-kit-sync-loop"


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == THREAD}


def test_a_call_from_the_oms_loop_itself_is_refused_rather_than_waiting_for_itself():
    oms = ok.open_sync(feed=None, risk_interval=None)
    answers: list[object] = []

    def on_price(event: ok.Event) -> None:  # runs on the OMS's loop, in its thread
        try:
            answers.append(oms.last_price("RELIANCE"))
        except ok.OmsError as exc:
            answers.append(exc)

    try:
        oms.subscribe(on_price, "price")
        oms.set_price("RELIANCE", 2500)
        assert oms.last_price("RELIANCE") == 2500  # from this thread: answered
    finally:
        oms.close()

    (refused,) = answers
    assert isinstance(refused, ok.OmsError) and "wait for itself" in refused.message
    assert refused.hint is not None and ".oms" in refused.hint


def test_an_oms_that_does_not_open_leaves_no_thread_and_a_closed_one_refuses_calls():
    before = _threads()
    with pytest.raises(ok.ConfigError) as raised:
        ok.open_sync(feed=None, risk_interval=-1)
    assert raised.value.field == "risk_interval"
    assert _threads() - before == set()

    oms = ok.open_sync(feed=None, risk_interval=None)
    oms.close()
    with pytest.raises(ok.OmsError, match="this OMS is closed"):
        oms.status()
    assert _threads() - before == set()
