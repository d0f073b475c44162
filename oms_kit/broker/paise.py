"""Charges in whole paise: the integer arithmetic behind every fee model, compiled with the order path.

A contract note shows each charge rounded half up to the paisa. With the turnover and the rates as exact fractions
of integers (``Decimal.as_integer_ratio``) each charge is one integer division: the value Decimal's
``quantize(ROUND_HALF_UP)`` gives, at a fifth of the cost. The fee models (``fees.py``, ``charges.py``) keep their
rates and their public shape; what runs on every fill is here, in a module the build compiles.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

ONE: Final = (1, 1)


def paise(numerator: int, denominator: int, rate: tuple[int, int]) -> int:
    """``(numerator / denominator)`` rupees times ``rate`` (a fraction), in paise rounded half up (values >= 0)."""
    top, bottom = 100 * numerator * rate[0], denominator * rate[1]
    return (2 * top + bottom) // (2 * bottom)


def rupee_paise(numerator: int, denominator: int, rate: tuple[int, int]) -> int:
    """The same amount rounded half up to the rupee, in paise: how STT stands on a contract note."""
    top, bottom = numerator * rate[0], denominator * rate[1]
    return 100 * ((2 * top + bottom) // (2 * bottom))


def equity_charges(rates: dict[str, tuple[int, int]], buy: bool, delivery: bool, quantity: int, price: Decimal,
                   prior_turnover: Decimal) -> tuple[int, int, int, int, int, int]:
    """One cash-market fill's brokerage, STT, exchange charge, SEBI fee, stamp duty and GST, in paise.

    ``rates`` holds :class:`~oms_kit.broker.fees.IndiaEquityFees`' rates by field name as fractions; ``delivery``
    prices CNC, else intraday. ``prior_turnover`` is the order's earlier fills' traded value: brokerage is capped
    per executed order, so this fill pays only what the order owes beyond them.
    """
    price_num, price_den = price.as_integer_ratio()
    turnover = price_num * quantity  # rupees: turnover / price_den
    if delivery:
        brokerage_rate = rates["delivery_brokerage_rate"]
        stt = paise(turnover, price_den, rates["delivery_stt_rate"])
        stamp = paise(turnover, price_den, rates["delivery_stamp_duty_rate"]) if buy else 0
    else:
        brokerage_rate = rates["intraday_brokerage_rate"]
        stt = 0 if buy else paise(turnover, price_den, rates["intraday_stt_rate"])
        stamp = paise(turnover, price_den, rates["intraday_stamp_duty_rate"]) if buy else 0
    if brokerage_rate[0]:
        # The order's brokerage after this fill, less what its earlier fills paid: the cap binds per order.
        # Rounding keeps order, so rounding the smaller of cap and charge is the smaller of the two rounded.
        cap_num, cap_den = rates["brokerage_cap"]
        cap = paise(cap_num, cap_den, ONE)
        if prior_turnover:
            prior_num, prior_den = prior_turnover.as_integer_ratio()
            total = paise(prior_num * price_den + turnover * prior_den, prior_den * price_den, brokerage_rate)
            brokerage = min(cap, total) - min(cap, paise(prior_num, prior_den, brokerage_rate))
        else:
            brokerage = min(cap, paise(turnover, price_den, brokerage_rate))
    else:
        brokerage = 0
    exchange = paise(turnover, price_den, rates["exchange_transaction_rate"])
    sebi = paise(turnover, price_den, rates["sebi_fee_rate"])
    gst = paise(brokerage + exchange + sebi, 100, rates["gst_rate"])
    return brokerage, stt, exchange, sebi, stamp, gst
