"""``await oms.serve()`` inside a running Jupyter kernel: the kernel's own OMS is served on the kernel's loop, a bot in
another process trades it over HTTP, the notebook sees the bot's orders in its ``oms.orders()`` and its dashboard
(the resting one in the orders panel, the filled one's position in the positions panel), and the kernel keeps its
interrupt (the server installs no signal handler)."""

from __future__ import annotations

import textwrap

import nbformat
from nbclient import NotebookClient

SERVE = """
import asyncio, signal, sys
import oms_kit as ok
from oms_kit.widgets import dashboard

handler = signal.getsignal(signal.SIGINT)
oms = await ok.OMS.open(feed=None, risk_interval=None)
await oms.set_price("RELIANCE", 2500)
board = dashboard(oms)
server = await oms.serve(port=0)
assert signal.getsignal(signal.SIGINT) is handler  # the kernel's interrupt is still the kernel's
print("SERVING", server.url)
"""

BOT = """
import sys, httpx
url, token = sys.argv[1], sys.argv[2]
with httpx.Client(base_url=url + "/api/oms", headers={"Authorization": "Bearer " + token}) as client:
    order = client.post("/orders", json={"symbol": "RELIANCE", "side": "BUY", "quantity": 7, "tag": "bot"}).json()
    resting = client.post("/orders", json={"symbol": "RELIANCE", "side": "BUY", "quantity": 3, "tag": "bot",
                                           "order_type": "LIMIT", "price": "2400"}).json()
    print(order["order_id"], order["status"], resting["order_id"], resting["status"])
"""

TRADE = f"""
bot = await asyncio.create_subprocess_exec(sys.executable, "-c", {BOT!r}, server.url, server.token,
                                           stdout=asyncio.subprocess.PIPE)
out, _ = await asyncio.wait_for(bot.communicate(), 60)
order_id, status, resting_id, resting_status = out.decode().split()
book = oms.orders()
assert book["order_id"].tolist() == [order_id, resting_id] and book["tag"].tolist() == ["bot", "bot"], book
assert oms.position("RELIANCE") == 7 and resting_status == "OPEN"
for panel in board.panels:
    panel.refresh_now()
assert board.orders.order_ids == [resting_id], board.orders.order_ids
assert "RELIANCE" in board.positions.table.value and ">7<" in board.positions.table.value
board.close()
print("TRADED", order_id, status)
"""

STOP = """
await server.stop()
assert not server.running and not oms.closed
await oms.close()
print("STOPPED")
"""


def test_a_kernel_serves_its_own_oms_and_a_bot_process_trades_it():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(code))
                                               for code in (SERVE, TRADE, STOP)])
    client = NotebookClient(notebook, timeout=120, kernel_name="python3")

    client.execute()

    text = ["".join(out.get("text", "") for out in cell.outputs) for cell in notebook.cells]
    assert "SERVING http://127.0.0.1:" in text[0], notebook.cells[0].outputs
    assert "TRADED O-" in text[1] and text[1].strip().endswith("FILLED"), notebook.cells[1].outputs
    assert "STOPPED" in text[2], notebook.cells[2].outputs
