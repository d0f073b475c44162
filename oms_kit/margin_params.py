"""Margin parameters per underlying (price and volatility scan ranges, exposure, short option minimum), read from
``margin_params.csv`` shipped with the package or from a file of the user's; their sources are in
:mod:`oms_kit.margin`'s notes and in the CSV."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import oms_kit.black76 as black76
from oms_kit.errors import ConfigError, DataError

__all__ = ["MarginParams", "checked_fraction", "default_margin_params", "read_margin_params",
           "resolve_margin_params"]


def checked_fraction(name: str, value: object, low: float, high: float, allowed: str,
                     error: type = ConfigError) -> float:
    """``value`` as a float within [low, high], else ``error(name, value, allowed)``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(name, value, allowed)
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise error(name, value, allowed)
    return number


@dataclass(frozen=True, slots=True)
class MarginParams:
    """One underlying's margin parameters, as fractions (0.093 is 9.3%; ``volatility_scan`` 0.04 is 4 points).

    ``kind`` is ``"index"`` or ``"stock"``. ``price_scan`` must stay below 0.5, so that the extreme move of twice
    the range leaves the price above 0.
    """

    kind: str
    price_scan: float
    volatility_scan: float
    default_vol: float
    exposure: float
    deep_otm: float
    deep_otm_exposure: float
    expiry_day_exposure: float
    short_option_minimum: float
    calendar_spread: float

    def __post_init__(self) -> None:
        if self.kind not in ("index", "stock"):
            raise ConfigError("kind", self.kind, "'index' or 'stock'")
        checked_fraction("price_scan", self.price_scan, 1e-6, 0.499, "a fraction above 0 and below 0.5 (0.093 is 9.3%)")
        checked_fraction("volatility_scan", self.volatility_scan, 0.0, black76.MAX_VOL,
                         f"volatility points as a fraction, 0 to {black76.MAX_VOL:g} (0.04 is 4 points)")
        checked_fraction("default_vol", self.default_vol, 1e-4, black76.MAX_VOL, "a volatility above 0 (0.15 is 15%)")
        for name in ("exposure", "deep_otm_exposure", "expiry_day_exposure", "short_option_minimum",
                     "calendar_spread"):
            checked_fraction(name, getattr(self, name), 0.0, 1.0, "a fraction from 0 to 1 (0.02 is 2%)")
        checked_fraction("deep_otm", self.deep_otm, 0.0, 100.0, "a fraction of the price from 0 to 100 (0.1 is 10%)")


_PERCENT_COLUMNS = {
    "price_scan_pct": "price_scan",
    "volatility_scan_pts": "volatility_scan",
    "default_vol_pct": "default_vol",
    "exposure_pct": "exposure",
    "deep_otm_pct": "deep_otm",
    "deep_otm_exposure_pct": "deep_otm_exposure",
    "expiry_day_exposure_pct": "expiry_day_exposure",
    "short_option_minimum_pct": "short_option_minimum",
    "calendar_spread_pct": "calendar_spread",
}


def read_margin_params(source: str | Path) -> dict[str, MarginParams]:
    """Read margin parameters from a CSV file with the columns of ``oms_kit/margin_params.csv``.

    Columns: ``underlying``, ``kind`` (index or stock) and, in percent, ``price_scan_pct``,
    ``volatility_scan_pts`` (volatility points), ``default_vol_pct``, ``exposure_pct``, ``deep_otm_pct``,
    ``deep_otm_exposure_pct``, ``expiry_day_exposure_pct``, ``short_option_minimum_pct``, ``calendar_spread_pct``.
    Returns the rows by underlying, upper case. Raises DataError naming the line of a missing column or bad value.
    """
    path = Path(source)
    try:
        handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed below, after the read
    except OSError as exc:
        raise DataError("margin parameter file", str(path), "a readable CSV file", detail=str(exc)) from None
    try:
        with handle:
            return _parse_params(csv.DictReader(handle), path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError("margin parameter file", str(path), "a UTF-8 CSV file", detail=str(exc)) from None


def _parse_params(reader: csv.DictReader, path: Path) -> dict[str, MarginParams]:
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in ("underlying", "kind", *_PERCENT_COLUMNS) if c not in columns]
    if missing:
        raise DataError(f"margin parameter columns in {path} (missing: {', '.join(missing)})", columns,
                        "underlying, kind, " + ", ".join(_PERCENT_COLUMNS))
    table = {}
    for line, raw in enumerate(reader, start=2):
        row = {str(k).strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        underlying = row["underlying"].upper()
        if not underlying:
            raise DataError("underlying", row["underlying"], "a name", detail=f"{path}, line {line}", row=line)
        values: dict[str, Any] = {"kind": row["kind"].lower()}
        for column, name in _PERCENT_COLUMNS.items():
            try:
                values[name] = float(row[column]) / 100.0
            except ValueError:
                raise DataError(column, row[column], "a number (percent)", detail=f"{path}, line {line}",
                                row=line) from None
        try:
            table[underlying] = MarginParams(**values)
        except ConfigError as exc:
            raise DataError(exc.field, exc.value, exc.allowed, detail=f"{path}, line {line}", row=line) from None
    if "DEFAULT" not in table:
        raise DataError("underlying", sorted(table), "a DEFAULT row among them (for underlyings not listed)")
    return table


@cache
def _shipped() -> dict[str, MarginParams]:
    return read_margin_params(Path(str(files("oms_kit").joinpath("margin_params.csv"))))


def default_margin_params() -> dict[str, MarginParams]:
    """The shipped parameters (``oms_kit/margin_params.csv``) by underlying, with the ``DEFAULT`` row."""
    return dict(_shipped())


def resolve_margin_params(params: Mapping[str, MarginParams] | str | Path | None) -> dict[str, MarginParams]:
    table = default_margin_params()
    if params is None:
        return table
    given = read_margin_params(params) if isinstance(params, str | Path) else params
    if not isinstance(given, Mapping):
        raise ConfigError("params", params, "a mapping of underlying to MarginParams, a CSV path, or None")
    for key, value in given.items():
        if not isinstance(key, str) or not isinstance(value, MarginParams):
            raise ConfigError("params", {key: value}, "underlying names (str) mapped to MarginParams")
        table[key.strip().upper()] = value
    return table
