"""A trading bot in a process of its own, for notebooks/06_service.ipynb: it trades an OMS served with
``await oms.serve()`` (or ``python -m oms_kit serve``) over HTTP.

    OMS_KIT_TOKEN=... python service_bot.py http://127.0.0.1:8050 [--tag bot]

It enters a long position in RELIANCE at market, rests a take-profit 1 % above the fill and a stop 1 % below it,
tries an order larger than the account's limits allow, and buys TCS through the official Kite Connect client
(``pip install kiteconnect``), printing a line for each. An entry the OMS refuses (the kill switch, a limit) ends
the run with exit status 1 and the reasons.

The URL comes from the first argument or ``$OMS_KIT_URL``, the token from ``--token`` or ``$OMS_KIT_TOKEN`` (the
environment keeps it out of the process list). The bot uses the blocking client ``ok.connect_sync``: a script
needs no event loop of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal

import oms_kit as ok
from oms_kit.client import SyncRemoteOMS

TICK = Decimal("0.05")  # NSE equities trade in steps of 5 paise: a limit or trigger price off the tick is rejected


def on_tick(price: Decimal) -> Decimal:
    """``price`` rounded to the nearest tick."""
    return (price / TICK).quantize(Decimal(1)) * TICK


def describe(order: ok.Order) -> str:
    """One line for an order: what was asked, then its id, status and fill or reasons."""
    asked = f"{order.side.value} {order.quantity} {order.symbol} {order.order_type.value}"
    if order.price is not None:
        asked += f" {order.price}"
    if order.trigger_price is not None:
        asked += f" trigger {order.trigger_price}"
    outcome = f"{order.order_id} {order.status.value}"
    if order.filled_quantity:
        outcome += f" at {order.average_price}"
    if order.violations:
        outcome += ": " + "; ".join(f"{v.code}: {v.message}" for v in order.violations)
    return f"{asked:<38} -> {outcome}"


def trade(remote: SyncRemoteOMS, tag: str) -> None:
    """The bot's orders, placed with the kit's client; exits with status 1 when the entry is refused."""
    entry = remote.place_order("RELIANCE", "BUY", 10, "MARKET", tag=tag)
    print(describe(entry))
    if entry.status != ok.OrderStatus.FILLED:
        sys.exit(f"stopped: the entry order was not filled ({entry.status.value})")
    # A bracket around the fill: both rest in the OMS's mock broker until the price reaches one of them.
    target = remote.place_order("RELIANCE", "SELL", 10, "LIMIT", price=on_tick(entry.average_price * Decimal("1.01")),
                                tag=tag)
    print(describe(target))
    stop = remote.place_order("RELIANCE", "SELL", 10, "SL-M",
                              trigger_price=on_tick(entry.average_price * Decimal("0.99")), tag=tag)
    print(describe(stop))
    # A well-formed order that breaks a rule comes back REJECTED with its reasons; it is not an exception.
    print(describe(remote.place_order("INFY", "BUY", 500, "MARKET", tag=tag)))


def trade_with_kite(url: str, token: str, account: str, tag: str) -> None:
    """One order through the official Kite Connect client: the same server answers at Kite's paths."""
    try:
        from kiteconnect import KiteConnect
    except ImportError:
        print("kiteconnect is not installed (pip install kiteconnect): no Kite order")
        return
    kite = KiteConnect(api_key=account, root=url)  # a Kite bot's one change: where Kite is
    kite.set_access_token(token)
    last = kite.ltp(["NSE:TCS"])["NSE:TCS"]["last_price"]
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="TCS", transaction_type="BUY",
                                quantity=5, product="MIS", order_type="MARKET", tag=tag)
    done = kite.order_history(order_id)[-1]
    asked = f"kite: BUY 5 TCS MARKET (ltp {last})"
    print(f"{asked:<38} -> {order_id} {done['status']} at {done['average_price']}")


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, connect, trade, print the positions."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("OMS_KIT_URL"),
                        help="the server's URL (default: $OMS_KIT_URL)")
    parser.add_argument("--token", default=os.environ.get("OMS_KIT_TOKEN"),
                        help="the server's token (default: $OMS_KIT_TOKEN)")
    parser.add_argument("--tag", default="bot", help="tag of the bot's orders (at most 20 characters)")
    args = parser.parse_args(argv)
    if not args.url or not args.token:
        parser.error("the server's URL and token are needed (arguments, or $OMS_KIT_URL and $OMS_KIT_TOKEN)")

    with ok.connect_sync(args.url, token=args.token) as remote:
        state = remote.status()["trading_state"]
        print(f"connected to {remote.url}, account {remote.account!r}, trading state {state}")
        trade(remote, args.tag)
        trade_with_kite(remote.url, args.token, remote.account, args.tag)
        positions = remote.positions()
        held = positions.loc[positions["quantity"] != 0, ["symbol", "quantity"]]
        print("positions:", ", ".join(f"{row.symbol} {row.quantity}" for row in held.itertuples()))


if __name__ == "__main__":
    main()
