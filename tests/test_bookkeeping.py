"""The order manager is one class to its callers though it lives in two modules: :class:`oms_kit.orders.OrderManager`
(the account's requests) on its base class :class:`oms_kit.bookkeeping.Bookkeeping` (the books and the broker's
reports). The other tests drive its behaviour; this pins what the split could change unseen, compiled or not."""

from __future__ import annotations

import inspect

from oms_kit.orders import OrderManager

MANAGER_ARGUMENTS = ["account", "broker", "ledger", "instruments", "limits", "bus", "now", "validator", "session"]


def test_the_signature_shown_for_the_manager_is_its_own() -> None:
    # A compiled build writes no signature into the class when a default is no literal (the manager's session):
    # inspect then looks along the base classes, and must not find the base class's __init__ there.
    try:
        shown = list(inspect.signature(OrderManager).parameters)
    except ValueError:  # compiled: none shown
        return
    assert shown == MANAGER_ARGUMENTS
