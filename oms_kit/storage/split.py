"""Writing a transaction that failed for a row's sake in halves, so that one caller's bad row does not cost the
others their records (used by the write queue, ``storage/writer.py``).

A transaction is a list of parts, one per caller: the future of whoever waits and the rows, stored all or none.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from oms_kit.storage.base import Store, Write
from oms_kit.storage.rows import RowError, misfit

log = logging.getLogger("oms_kit.storage")

# The future of whoever waits for these rows, and the rows (one unit: all or none).
Part = tuple[asyncio.Future[None], list[Write]]


@dataclass
class Split:
    """What :func:`write_apart` did: rows and transactions committed, rows refused (the error per owner), and the
    error that stopped it early (``stop``, with the parts not written yet in ``remaining``), if any."""

    written: int = 0
    transactions: int = 0
    rejected_rows: int = 0
    rejected: dict[asyncio.Future[None], RowError] = field(default_factory=dict)
    stop: Exception | None = None
    remaining: list[Part] = field(default_factory=list)


async def write_apart(store: Store, parts: list[Part], error: RowError) -> Split:
    """Write ``parts``, whose transaction failed with ``error``, in halves, splitting each failing half again, in
    order. A part that fails alone is refused whole.

    Stops at the first failure that no split can help (the database is unreachable, the store is closed): the
    parts not written yet are then in ``remaining``. Settles no future: see :func:`settle_parts`.
    """
    split = Split()
    units: list[Part] = []
    for owner, rows in parts:
        # A value the schema cannot hold is refused without a round trip: only a failure the check does not
        # foresee (a constraint) costs the halving, where every bad part costs a transaction or more.
        found = misfit(store.url, rows)
        if found is None:
            units.append((owner, rows))
        else:
            split.rejected[owner] = found
            split.rejected_rows += len(rows)
    # Popped from the end, first half first. The parts left are tried once more as a whole, unless none was taken
    # out (then they fail as before).
    todo: list[tuple[list[Part], RowError | None]] = [(units, None if split.rejected else error)]
    while todo:
        group, failure = todo.pop()
        if failure is None:
            rows = [row for _, unit_rows in group for row in unit_rows]
            try:
                if rows:
                    await store.write(rows)
            except RowError as exc:
                failure = exc
            except Exception as exc:  # unreachable now, or a failure that no split can help
                split.stop = exc
                split.remaining = group + [unit for later, _ in reversed(todo) for unit in later]
                break
            else:
                if rows:
                    split.transactions += 1
                    split.written += len(rows)
                continue
        if len(group) == 1:
            split.rejected[group[0][0]] = failure
            split.rejected_rows += len(group[0][1])
            continue
        half = len(group) // 2
        todo += [(group[half:], None), (group[:half], None)]
    return split


def settle_parts(parts: list[Part], rejected: dict[asyncio.Future[None], RowError]) -> None:
    """Complete each part's future: with its error if its rows were refused, else with None. A future already done
    (its caller stopped waiting, or got an outage's error) has its refused rows logged instead."""
    for owner, _ in parts:
        failed = rejected.get(owner)
        if owner.done():
            if failed is not None:
                log.error("rows dropped, their table cannot hold them: %s", failed)
        elif failed is None:
            owner.set_result(None)
        else:
            owner.set_exception(failed)
