"""The modules of the order path that the build compiles with mypyc, and whether this install runs them compiled.

``setup.py`` reads :data:`MODULES` (this module imports nothing of oms_kit, so the build can run it alone) and
compiles them when a C compiler is at hand; without one, or with ``OMS_KIT_PURE_PYTHON=1`` set at install time, the
same modules run as plain Python. Both ways pass the same test suite. What a module compiled this way must keep:

- its annotations are checked at run time: a value of another type raises ``TypeError`` where plain Python would
  go on, so a public argument that is checked by hand (and refused with a ``ConfigError``) is typed ``object``;
- its classes cannot be patched or subclassed from Python unless marked
  ``@mypyc_attr(allow_interpreted_subclasses=True)`` (:class:`~oms_kit.market.bar.Bar`, which ``Quote``
  subclasses), and ``inspect`` sees less of its functions;
- a ``float`` field is a C double, read as a new float object each time: a NaN in it is not even identical to
  itself, so equality and hashing that meet NaNs are written out (``Bar``);
- its module-level constants are annotated ``Final``: compiled code reads a ``Final`` name from a C static, and any
  other module-level name from the module's dict on every use (a dict lookup with its checks, about 130
  instructions; the constants of ``fsm.apply`` alone cost a backtest 1,200 instructions an order that way). An enum
  member in a hot function is read through such a constant (``_BUY: Final = Side.BUY``), since ``Side.BUY`` is an
  attribute lookup on the class each time;
- its dataclasses are native classes: a constructor written in the source runs compiled (the one a dataclass
  generates runs as Python), ``cls.__new__(cls)`` runs the constructor, and pickle and copy need a
  ``__reduce__`` that rebuilds through the constructor (:func:`oms_kit.models._rebuilt`), since an instance has
  no ``__dict__`` and a frozen one refuses the assignments an unpickled state would make.

A compiled module is an extension file next to its source; editing the source does not change what runs until
the package is built again (``./run.sh`` does so when a compiled module changes). :func:`stale` names the modules
whose source is newer than their build, and ``import oms_kit`` warns about them.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

MODULES = (
    "oms_kit.models",
    "oms_kit.parsing",
    "oms_kit.tradable",
    "oms_kit.market.bar",
    "oms_kit.fsm",
    "oms_kit.validator",
    "oms_kit.checks",
    "oms_kit.check",
    "oms_kit.session_checks",
    "oms_kit.exposure",
    "oms_kit.bookkeeping",
    "oms_kit.orders",
    "oms_kit.ledger",
    "oms_kit.rejections",
    "oms_kit.day",
    "oms_kit.broker.base",
    "oms_kit.broker.depth",
    "oms_kit.broker.resting",
    "oms_kit.broker.mock",
    "oms_kit.broker.paise",
    "oms_kit.storage.records",
    "oms_kit.storage.recorder",
    "oms_kit.runner",
    "oms_kit.request",
)
"""Compiled when the build can: the order domain's value objects (orders, fills, positions, instruments, bars)
and the parsing of their fields (``parsing``), the state machine, the pre-trade checks, the order manager, the
ledger, the mock broker's matching and the charges' arithmetic (``broker.paise``), and the rows the order path
records for the store (``storage.records`` builds them, ``storage.recorder`` keeps them), and the strategy runner,
the loop backtests and paper trading share (``runner``; not the ``Strategy`` base class, which strategies subclass
from Python)."""

_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the directory that holds the oms_kit package


def compiled() -> dict[str, bool]:
    """Each of :data:`MODULES` (imported) and whether it runs compiled."""
    return {name: _file(name).endswith(_EXTENSIONS) for name in MODULES}


def stale() -> list[str]:
    """The compiled modules whose source was changed after they were built (imported ones only)."""
    found = []
    shared = _shared_build_time()
    for name in MODULES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) or ""
        if not path.endswith(_EXTENSIONS):
            continue
        # The source from the module's name, not from __file__: a module that mypyc compiles into the shared library
        # may report its file one package level too deep (oms_kit/oms_kit/fsm….so), where no source lies beside it.
        source = os.path.join(_ROOT, *name.split(".")) + ".py"
        built = max(os.path.getmtime(path) if os.path.exists(path) else 0.0, shared)
        # A second of slack: an install may write the source just after the build.
        if os.path.exists(source) and os.path.getmtime(source) > built + 1:
            found.append(name)
    return found


def _shared_build_time() -> float:
    # The compiled code lives in one shared library (``oms_kit.native__mypyc``); each module's own extension file is a
    # small shim that a build copies again with its old time when it did not change, so after an in-place
    # rebuild the library's time is the build's.
    times = [os.path.getmtime(path) for name, module in list(sys.modules.items())
             if name.endswith("__mypyc") and (path := getattr(module, "__file__", None) or "")
             and os.path.exists(path)]
    return max(times, default=0.0)


def _file(name: str) -> str:
    __import__(name)
    return getattr(sys.modules[name], "__file__", None) or ""


def describe() -> str:
    """One line for a benchmark's output: how this install runs the order path."""
    state = compiled()
    if all(state.values()):
        return f"compiled (mypyc, {len(state)} modules)"
    if not any(state.values()):
        return "plain Python"
    return "partly compiled: plain Python for " + ", ".join(name for name, done in state.items() if not done)
