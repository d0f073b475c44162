"""open_sync: the same OMS methods, blocking, in a plain script and inside a running Jupyter kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import nbformat
from nbclient import NotebookClient

SESSION = """
import oms_kit as ok
oms = ok.open_sync(feed=None, broker=ok.MockBroker(fees=None))
oms.set_price("RELIANCE", 2500)
order = oms.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2490)
assert order.status == ok.OrderStatus.OPEN, order
oms.set_price("RELIANCE", 2489)
assert oms.get_order(order.order_id).status == ok.OrderStatus.FILLED
assert oms.position("RELIANCE") == 10
assert len(oms.positions()) == 1 and len(oms.trades()) == 1
oms.close()
print("SYNC-OK", order.average_price)
"""


def test_open_sync_in_a_plain_script_runs_every_call_to_completion():
    result = subprocess.run([sys.executable, "-c", SESSION], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "SYNC-OK 2489.00" in result.stdout


def test_open_sync_inside_a_running_jupyter_kernel_loop():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import asyncio\nasyncio.get_running_loop()  # the kernel's loop is running"),
        nbformat.v4.new_code_cell(textwrap.dedent(SESSION)),
    ])
    client = NotebookClient(notebook, timeout=120, kernel_name="python3")

    client.execute()

    outputs = notebook.cells[1].outputs
    assert any("SYNC-OK 2489.00" in out.get("text", "") for out in outputs), outputs
