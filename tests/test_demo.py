"""The headless main job, `python -m oms_kit demo`, as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_a_session_with_every_order_type_a_rejection_and_a_cancel_and_prints_the_tables():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMS_KIT_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "oms_kit", "demo"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "MARKET buy 10 RELIANCE: FILLED at " in out
    for line in ("SL-M sell 10 RELIANCE", "SL buy 20 INFY", "IOC buy 5 INFY", "(IOC remainder cancelled)",
                 "REJECTED — QUANTITY_EXCEEDS_MAXIMUM", "then cancelled: CANCELLED"):
        assert line in out
    for table in ("Orders", "Fills", "Positions", "P&L"):
        assert f"\n{table}\n" in out
    assert "orders_cancelled" in out and "orders_rejected             1" in out
