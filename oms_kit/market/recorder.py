"""Recording a live feed: :class:`FeedRecorder` writes bars to parquet part files in chunks, and
:class:`RecordingFeed` wraps a feed so that every bar it streams is recorded on its way to the consumer.

A feed of :class:`~oms_kit.market.quote.Quote` objects is recorded as quotes, with their book: the columns
timestamp, symbol, last, volume, ``bid_price_1`` … ``bid_price_5``, ``bid_qty_1`` … ``bid_qty_5``, ``ask_price_1`` …
``ask_qty_5`` (:data:`~oms_kit.market.quote.QUOTE_COLUMNS`; an empty level is NULL). They read back as Quote
objects, quote for quote, so a backtest of the recording and its replay into an OMS fill on the same books. A
recording holds one kind: its first record (or, when it continues a directory, its parts) decides which.

The recording is a directory of part files (``part-000000.parquet``, ``part-000001.parquet``, …), each one a
complete parquet file with the bar columns. :attr:`FeedRecorder.source` (``"<dir>/*.parquet"``) reads back with
:func:`~oms_kit.market.bars.load_bars` and replays with :class:`~oms_kit.market.replay.ReplayFeed`, bar for bar.

Why wrap the feed rather than subscribe to the OMS's price events: a ``PriceUpdated`` event carries the symbol, the
time and one price (the close, as the account marks it), so a recording of events would lose the open, high, low
and volume that matching uses (a limit fills when a bar's range crosses it). The wrapper sees the feed's own bars.

The replay sends the bars of one timestamp sorted by symbol (the order :func:`~oms_kit.market.bars.load_bars`
keeps); a feed that sends them in another order is replayed with the same bars in that sorted order.

Why part files rather than one file: a parquet file is readable only once its footer is written, at the end; one
file written in chunks would be lost whole by a crash. Each chunk here is written to a temporary name and renamed
into place, so a crash loses at most the bars not yet flushed, never a part already written.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from oms_kit.errors import ConfigError
from oms_kit.market.bars import Bar
from oms_kit.market.feed import Feed
from oms_kit.market.quote import DEPTH_COLUMNS, Quote, quote_columns

__all__ = ["FeedRecorder", "RecordingFeed"]

_PART = re.compile(r"^part-(\d{6,})\.parquet$")
_SCHEMA = pa.schema([
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("symbol", pa.string()),
    ("open", pa.float64()),
    ("high", pa.float64()),
    ("low", pa.float64()),
    ("close", pa.float64()),
    ("volume", pa.float64()),
])
_QUOTE_SCHEMA = pa.schema([
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("symbol", pa.string()),
    ("last", pa.float64()),
    ("volume", pa.float64()),
    *((column, pa.int64() if "_qty_" in column else pa.float64()) for column in DEPTH_COLUMNS),
])
_KINDS = {"bars": "an oms_kit Bar that is not a Quote: this recording holds bars",
          "quotes": "an oms_kit Quote: this recording holds quotes"}
_ALLOWED_PATH = "a directory path (str or Path) that is a directory or does not exist yet"


def _checked_path(path: Any) -> Path:
    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
        raise ConfigError("path", path, _ALLOWED_PATH)
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise ConfigError("path", path, _ALLOWED_PATH)
    if any(ch in text for ch in "*?["):
        raise ConfigError("path", path, _ALLOWED_PATH, hint="give the directory itself; the recorder adds the glob")
    directory = Path(text)
    if directory.exists() and not directory.is_dir():
        raise ConfigError("path", path, _ALLOWED_PATH, hint="it names a file; recordings are directories of parts")
    for parent in directory.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError("path", path, _ALLOWED_PATH, detail=f"{str(parent)!r} is a file, not a directory")
            break
    return directory


class FeedRecorder:
    """Write bars to a directory of parquet part files, a chunk at a time.

    Parameters
    ----------
    path
        The directory of the recording; created when missing. A directory that already holds parts (an earlier,
        perhaps interrupted, recording) is continued: new parts are numbered after the last one.
    every
        Write a part once this many bars are waiting.
    interval
        Also write one once this many seconds have passed since the last write, when the next bar comes (None: by
        count only). There is no timer task: a feed that sends nothing has nothing to lose.
    monotonic
        The time source of ``interval``; tests pass a fake.

    Raises
    ------
    ConfigError
        Naming ``path``, ``every`` or ``interval``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        every: int = 1000,
        interval: float | None = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError("every", every, "a whole number of bars >= 1")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval)
            or interval <= 0
        ):
            raise ConfigError("interval", interval, "seconds > 0 (a finite number), or None to write by count only")
        self.path = _checked_path(path)
        self.every = every
        self.interval = None if interval is None else float(interval)
        self._monotonic = monotonic
        self._buffer: list[Bar] = []
        self._closed = False
        self._next_part: int | None = None  # found on the first write: creating the recorder writes nothing
        self._kind: str | None = None  # "bars" or "quotes", decided on the first write
        self._last_write = monotonic()
        self.bars_written = 0
        self.parts_written = 0

    @property
    def source(self) -> str:
        """What :func:`~oms_kit.market.bars.load_bars` and :class:`~oms_kit.market.replay.ReplayFeed` read: the
        glob of the part files."""
        return str(self.path / "*.parquet")

    @property
    def pending(self) -> int:
        """Bars recorded but not yet written (what a crash now would lose)."""
        return len(self._buffer)

    @property
    def kind(self) -> str | None:
        """What the recording holds, "bars" or "quotes"; None until the first record (or part) says."""
        return self._kind

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def write(self, bar: Bar) -> None:
        """Record one bar (or quote); writes a part when ``every`` are waiting or ``interval`` seconds have passed.

        Raises
        ------
        ConfigError
            ``bar`` is not a Bar, or is a bar in a recording of quotes (a quote in one of bars).
        """
        if self._closed:
            raise RuntimeError(f"recorder of {str(self.path)!r} is closed")
        if not isinstance(bar, Bar):
            raise ConfigError("bar", bar, "an oms_kit Bar")
        kind = "quotes" if isinstance(bar, Quote) else "bars"
        if kind != self._kind:
            if self._kind is None:
                self._kind = self._recorded_kind() or kind
            if kind != self._kind:
                raise ConfigError("bar", bar, _KINDS[self._kind],
                                  hint="record bars and quotes in directories of their own")
        self._buffer.append(bar)
        if len(self._buffer) >= self.every or (
            self.interval is not None and self._monotonic() - self._last_write >= self.interval
        ):
            self.flush()

    def flush(self) -> None:
        """Write the waiting bars as one part file (nothing when none are waiting)."""
        self._last_write = self._monotonic()
        if not self._buffer:
            return
        bars, self._buffer = self._buffer, []
        if self._kind == "quotes":
            table = pa.Table.from_pydict(quote_columns(bars), schema=_QUOTE_SCHEMA)  # type: ignore[arg-type]
        else:
            table = pa.Table.from_pydict(
                {
                    "timestamp": [b.timestamp for b in bars],
                    "symbol": [b.symbol for b in bars],
                    "open": [b.open for b in bars],
                    "high": [b.high for b in bars],
                    "low": [b.low for b in bars],
                    "close": [b.close for b in bars],
                    "volume": [b.volume for b in bars],
                },
                schema=_SCHEMA,
            )
        self.path.mkdir(parents=True, exist_ok=True)
        if self._next_part is None:
            numbers = [int(m.group(1)) for p in self.path.iterdir() if (m := _PART.match(p.name))]
            self._next_part = max(numbers, default=-1) + 1
        final = self.path / f"part-{self._next_part:06d}.parquet"
        temporary = self.path / f".{final.name}.tmp"  # not matched by the *.parquet glob while half written
        try:
            pq.write_table(table, temporary)
            os.replace(temporary, final)
        except BaseException:
            self._buffer = bars + self._buffer  # not lost: the next flush tries again
            temporary.unlink(missing_ok=True)
            raise
        self._next_part += 1
        self.parts_written += 1
        self.bars_written += len(bars)

    def _recorded_kind(self) -> str | None:
        # A recording continued in a directory keeps the kind of its parts: one glob must read them all.
        if not self.path.is_dir():
            return None
        parts = {int(m.group(1)): p for p in self.path.iterdir() if (m := _PART.match(p.name))}
        if not parts:
            return None
        return "quotes" if "last" in pq.read_schema(parts[max(parts)]).names else "bars"

    def close(self) -> None:
        """Write the waiting bars and refuse more. Closing twice does nothing."""
        if not self._closed:
            self.flush()
            self._closed = True

    def __enter__(self) -> FeedRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"FeedRecorder({str(self.path)!r}, every={self.every}, interval={self.interval}, "
                f"written={self.bars_written}, pending={self.pending})")


class RecordingFeed:
    """A feed that streams another feed's bars unchanged and records each one with a :class:`FeedRecorder`.

    Give it to ``OMS.open(feed=…)`` or ``paper_trade`` in place of the feed. When the stream ends, or its task is
    cancelled, the waiting bars are written; :meth:`close` (or the recorder's) ends the recording.

    ``OMS.open`` decides its market hours by the recorded feed (a recorded random walk trades at any hour, as the
    walk does); ``paper_trade`` sees a wrapper and does not define the symbols' instruments ahead of the first bars.

    Parameters
    ----------
    feed
        The feed to record.
    path, every, interval
        As in :class:`FeedRecorder`; or pass ``recorder`` instead.
    recorder
        A recorder of your own (then ``path`` must be None).
    """

    kind = "recording"

    def __init__(
        self,
        feed: Feed,
        path: str | os.PathLike[str] | None = None,
        *,
        every: int = 1000,
        interval: float | None = 5.0,
        recorder: FeedRecorder | None = None,
    ) -> None:
        if not callable(getattr(feed, "stream", None)) or not callable(getattr(feed, "status", None)):
            raise ConfigError("feed", feed, "a feed (with stream() and status()), such as RandomWalkFeed")
        if recorder is not None:
            if not isinstance(recorder, FeedRecorder):
                raise ConfigError("recorder", recorder, "a FeedRecorder, or None")
            if path is not None:
                raise ConfigError("path", path, "None when a recorder is given")
        elif path is None:
            raise ConfigError("path", path, _ALLOWED_PATH)
        else:
            recorder = FeedRecorder(path, every=every, interval=interval)
        self.feed = feed
        self.recorder = recorder
        self.name: str = getattr(feed, "name", "feed")

    @property
    def source(self) -> str:
        """The glob that reads the recording back (see :attr:`FeedRecorder.source`)."""
        return self.recorder.source

    def __getattr__(self, name: str) -> Any:
        # The wrapped feed's own attributes (a random walk's last_prices, rate, forward) stay reachable, so code
        # that asks the OMS's feed for them works as without the recorder.
        if name in {"feed", "recorder"}:
            raise AttributeError(name)
        return getattr(self.feed, name)

    async def stream(self) -> AsyncIterator[Bar]:
        """Yield the wrapped feed's bars, recording each before it is passed on."""
        bars = self.feed.stream()
        try:
            async for bar in bars:
                self.recorder.write(bar)
                yield bar
        finally:
            aclose = getattr(bars, "aclose", None)
            if aclose is not None:
                await aclose()
            if not self.recorder.closed:
                self.recorder.flush()

    def status(self) -> dict[str, Any]:
        """The wrapped feed's status, with the recording's path, bars written and bars pending."""
        return {
            **self.feed.status(),
            "recording": str(self.recorder.path),
            "recorded": self.recorder.bars_written,
            "record_pending": self.recorder.pending,
        }

    def close(self) -> None:
        """Write the waiting bars and end the recording."""
        self.recorder.close()

    def __repr__(self) -> str:
        return f"RecordingFeed({self.feed!r}, {self.recorder!r})"
