"""Writing a transaction that failed for a row's sake in halves, so that one caller's bad row does not cost the
others their records (used by the write queue, ``storage/writer.py``).

A transaction is a list of parts, one per caller: the future of whoever waits, the rows, and whether they must be
stored all or none (a ``commit`` caller's rows) or may be stored row by row (the rows of ``write_behind``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from oms_kit.storage.base import Store, Write
from oms_kit.storage.rows import RowError, misfit

log = logging.getLogger("oms_kit.storage")

# The future of whoever waits for these rows, the rows, and whether they are one unit (all or none).
Part = tuple[asyncio.Future[None], list[Write], bool]


@dataclass
class Split:
    """What :func:`write_apart` did: rows and transactions committed, rows refused (by owner), and the error that
    stopped it early (``stop``, with the parts not written yet in ``remaining``), if any."""

    written: int = 0
    transactions: int = 0
    rejected_rows: int = 0
    rejected: dict[asyncio.Future[None], list[RowError]] = field(default_factory=dict)
    stop: Exception | None = None
    remaining: list[Part] = field(default_factory=list)


async def write_apart(store: Store, parts: list[Part], error: RowError) -> Split:
    """Write ``parts``, whose transaction failed with ``error``, in halves, splitting each failing half again, in
    order. A unit (a whole part, or one row of a part that is not whole) that fails alone is refused.

    Stops at the first failure that no split can help (the database is unreachable, the store is closed): the
    parts not written yet are then in ``remaining``. Settles no future: see :func:`settle_parts`.
    """
    split = Split()
    units: list[Part] = []
    for owner, rows, whole in parts:
        for unit in [(owner, rows, whole)] if whole else [(owner, [row], whole) for row in rows]:
            # A value the schema cannot hold is refused without a round trip: only a failure the check does not
            # foresee (a constraint) costs the halving, where every bad row costs a transaction or more.
            found = misfit(store.url, unit[1])
            if found is None:
                units.append(unit)
            else:
                split.rejected.setdefault(owner, []).append(found)
                split.rejected_rows += len(unit[1])
    # Popped from the end, first half first. The units left are tried once more as a whole, unless none was taken
    # out (then they fail as before).
    todo: list[tuple[list[Part], RowError | None]] = [(units, None if split.rejected else error)]
    while todo:
        group, failure = todo.pop()
        if failure is None:
            rows = [row for _, unit_rows, _ in group for row in unit_rows]
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
            split.rejected.setdefault(group[0][0], []).append(failure)
            split.rejected_rows += len(group[0][1])
            continue
        half = len(group) // 2
        todo += [(group[half:], None), (group[:half], None)]
    return split


def settle_parts(parts: list[Part], rejected: dict[asyncio.Future[None], list[RowError]]) -> None:
    """Complete each part's future: with its first error (a whole part), with one error naming every refused row
    (a write_behind part), or with None. A future already done (its caller stopped waiting, or got an outage's
    error) has its refused rows logged instead."""
    wholes = {owner for owner, _, whole in parts if whole}
    for owner in dict.fromkeys(owner for owner, _, _ in parts):
        errors = rejected.get(owner)
        failed = None if errors is None else errors[0] if owner in wholes else _behind_error(errors)
        if owner.done():
            if failed is not None:
                log.error("rows dropped, their table cannot hold them: %s", failed)
        elif failed is None:
            owner.set_result(None)
        else:
            owner.set_exception(failed)


def _behind_error(errors: list[RowError]) -> RowError:
    first = errors[0]
    if len(errors) == 1:
        return RowError(f"a row written behind could not be stored (the others were): {first.message}",
                        table=first.table, column=first.column, value=first.value, detail=first.detail)
    more = f"\n… and {len(errors) - 10} more" if len(errors) > 10 else ""
    return RowError(
        f"{len(errors)} rows written behind could not be stored (the others were), the first: {first.message}",
        table=first.table, column=first.column, value=first.value,
        detail="\n".join(error.message for error in errors[:10]) + more,
    )
