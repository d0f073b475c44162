"""An account's fills as a contract note: what a broker bills for a day's (or a backtest's) trades.

:func:`fills_contract_note` turns a table of fills (``OMS.trades()``, ``BacktestResult.trades``) into
:func:`~oms_kit.broker.charges.contract_note`'s DataFrame: each fill gets its trade date in India and its segment
(the instrument's kind, else the product; :func:`~oms_kit.broker.charges.fill_segment`), and each (trade date,
segment) line gets one more column, ``fills_fees``: the fees the fills were booked with, for comparison.

The two differ only by how they round when the account's fee model is :class:`~oms_kit.broker.charges.NseFees`:
a fill is priced alone, every charge rounded to the paisa (brokerage per order through ``prior_turnover``), while a
contract note takes each charge but brokerage on the segment's day total, rounds it once, and rounds STT to the
rupee. With another model the note still prices the trades at NSE's rates (IPFT left out for
:class:`~oms_kit.broker.fees.IndiaEquityFees`, which does not bill it), so ``fills_fees`` shows what the model
charged beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from oms_kit.broker.charges import NseFees, contract_note, fill_segment
from oms_kit.broker.fees import IndiaEquityFees
from oms_kit.broker.rates import RateTable, Segment, default_rate_table, to_trade_date
from oms_kit.errors import ConfigError
from oms_kit.tradable import Instrument

__all__ = ["day_window", "fills_contract_note"]

_COLUMNS = ("symbol", "product", "side", "quantity", "price", "fees", "ts", "order_id")


def _settings(model: object) -> tuple[RateTable, bool]:
    # The note prices at the model's own table and IPFT setting where it has them.
    if isinstance(model, NseFees):
        return (model.table if model.table is not None else default_rate_table()), model.ipft
    return default_rate_table(), not isinstance(model, IndiaEquityFees)


def fills_contract_note(trades: Any, instruments: Mapping[str, Instrument], fee_model: object = None) -> Any:
    """The contract note of a table of fills, per trade date and segment, with the fees the fills were booked with.

    Parameters
    ----------
    trades
        A DataFrame with the columns of ``OMS.trades()`` (symbol, product, side, quantity, price, fees, ts,
        order_id), one row per fill.
    instruments
        Instruments by symbol: a future or an option pays its segment's rates; a symbol missing here is cash equity.
    fee_model
        The account's fee model: an :class:`~oms_kit.broker.charges.NseFees` lends the note its rate table, IPFT
        setting and symbol resolver; :class:`~oms_kit.broker.fees.IndiaEquityFees` leaves IPFT out; anything else
        (None, NoFees, a model of one's own) gets the shipped table with IPFT, as brokers bill it.

    Returns
    -------
    pandas.DataFrame
        :func:`~oms_kit.broker.charges.contract_note`'s frame (index trade_date and segment; buy and sell values,
        each charge, ``total_charges``) with ``fills_fees``, the sum of the fills' own fees, as the last column.

    Raises
    ------
    ConfigError
        ``trades`` lacks a column, or ``instruments`` is not a mapping.
    DataError
        A fill the note cannot price, such as one dated outside the rate table (naming the field and the row).
    """
    import pandas as pd

    if not isinstance(trades, pd.DataFrame):
        raise ConfigError("trades", trades, "a DataFrame of fills with the columns of OMS.trades()")
    missing = [column for column in _COLUMNS if column not in trades.columns]
    if missing:
        raise ConfigError("trades", f"columns {list(trades.columns)}", f"a DataFrame with {', '.join(_COLUMNS)}",
                          detail=f"missing {', '.join(missing)}")
    if not isinstance(instruments, Mapping):
        raise ConfigError("instruments", instruments, "a mapping of symbol to Instrument")
    table, ipft = _settings(fee_model)
    records: list[dict[str, Any]] = []
    booked: dict[tuple[Any, str], Decimal] = {}
    for fill in trades.to_dict("records"):
        instrument = instruments.get(fill["symbol"])
        segment = (fee_model.segment(fill["product"], fill["symbol"], instrument) if isinstance(fee_model, NseFees)
                   else fill_segment(fill["product"], instrument))
        # An unreadable timestamp is left for contract_note to refuse, naming the row.
        day = to_trade_date(fill["ts"]) if isinstance(fill["ts"], date) else fill["ts"]
        records.append({"trade_date": day, "segment": segment, "side": fill["side"], "quantity": fill["quantity"],
                        "price": fill["price"], "order_id": fill["order_id"]})
        key = (day, Segment(segment).value)
        fees = fill["fees"]
        booked[key] = booked.get(key, Decimal("0.00")) + (fees if isinstance(fees, Decimal) else Decimal(str(fees)))
    note = contract_note(records, table=table, ipft=ipft)
    note["fills_fees"] = [booked[key] for key in note.index]
    return note


def day_window(day: object, zone: tzinfo, current: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The ``since`` and ``until`` (both inclusive) that select one exchange-local day's fills.

    Parameters
    ----------
    day
        A ``datetime.date``, or None for the current trading day.
    zone
        The exchange's time zone, in which the day runs from midnight to midnight.
    current
        When the current trading day began (None: no day yet, and every fill in memory is the day's).

    Raises
    ------
    ConfigError
        ``day`` is neither a date nor None (a datetime is a moment, not a day, and a string is not guessed).
    """
    if day is None:
        return current, None
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ConfigError("day", day, "a datetime.date, or None for the current trading day")
    since = datetime.combine(day, time(0), tzinfo=zone)
    if day == date.max:
        return since, None
    return since, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone) - timedelta(microseconds=1)
