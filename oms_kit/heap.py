"""The garbage collector's full passes kept short: the heap that exists when trading starts is frozen, once.

CPython finds reference cycles by walking its tracked objects: young ones often, all of them in a full pass, which
runs each time the survivors of the young passes reach a quarter of what the last full pass kept. An OMS keeps
every order and fill of the day (two objects an order), so full passes come steadily while orders flow, and each
walked everything the process had imported (pandas, DuckDB, Arrow, IPython in a kernel: 100,000 objects and more),
in pauses of 50-300 ms that every caller waiting for an order sat through.

:func:`freeze_once` collects what is garbage and moves every object then alive into the permanent generation
(``gc.freeze()``), which the collector leaves alone: the full passes then walk only what was made since. It runs
once a process, as the first OMS opens or the first backtest starts (before either builds anything): what exists
then is modules, classes and functions, which live as long as the process, and the data a notebook loaded before.
The one cost is that an object frozen there which later becomes part of a garbage cycle is not reclaimed (plain
reference counting still frees everything else). Running it once, not at every open, keeps an OMS that a notebook
opens again (the old one dropped without ``close()``) collectable, as it was made after the freeze.
``OMS_KIT_FREEZE_HEAP=0`` leaves the collector as it is.
"""

from __future__ import annotations

import gc
import os

_done = False


def freeze_once() -> bool:
    """Collect garbage and freeze the heap, the first time this is called in the process (unless
    ``OMS_KIT_FREEZE_HEAP`` is ``0``). Returns whether this call froze it."""
    global _done
    if _done or os.environ.get("OMS_KIT_FREEZE_HEAP", "1") == "0":
        return False
    _done = True
    gc.collect()
    gc.freeze()
    return True
