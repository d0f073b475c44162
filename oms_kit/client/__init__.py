"""A served OMS from another process, with the OMS's own methods, values and errors:

>>> remote = await ok.connect("http://127.0.0.1:8050", token="...")
>>> order = await remote.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2500)   # an ok.Order
>>> frame = await remote.orders(status="FILLED")                                     # the table of oms.orders()
>>> async for event in remote.events(["order", "fill"]): ...                        # ok.OrderUpdated, ok.OrderFilled

``ok.connect_sync(...)`` is the blocking twin for scripts. The client needs httpx and websockets, not the server's
stack (FastAPI, uvicorn). Parts: :mod:`~oms_kit.client.remote` (the methods over REST),
:mod:`~oms_kit.client.stream` (the event stream), :mod:`~oms_kit.client.decode` (JSON back into the kit's values),
:mod:`~oms_kit.client.errors` (the API's errors as the OMS's exceptions), :mod:`~oms_kit.client.blocking` (the
twin).
"""

from oms_kit.client.blocking import SyncEventStream, SyncRemoteOMS, connect_sync
from oms_kit.client.errors import EventStreamClosed, EventStreamLagged, RemoteError
from oms_kit.client.remote import RemoteOMS, connect
from oms_kit.client.stream import EventStream

__all__ = ["EventStream", "EventStreamClosed", "EventStreamLagged", "RemoteError", "RemoteOMS", "SyncEventStream",
           "SyncRemoteOMS", "connect", "connect_sync"]
