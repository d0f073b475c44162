"""The default instrument list and how callers add to it or replace it."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import oms_kit.instruments as instruments_module
from oms_kit.errors import ConfigError, DataError, InvalidOrderError
from oms_kit.instruments import (
    default_instrument,
    default_instruments,
    read_instruments,
    resolve_instruments,
)
from oms_kit.tradable import Instrument

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SYMBOLS = [
    "RELIANCE",
    "TCS",
    "INFY",
    "HDFCBANK",
    "ICICIBANK",
    "SBIN",
    "ITC",
    "LT",
    "AXISBANK",
    "KOTAKBANK",
    "BHARTIARTL",
    "HINDUNILVR",
]


def test_instruments_all_lists_the_real_exports():
    assert sorted(instruments_module.__all__) == [
        "DEFAULT_TICK_SIZE",
        "KITE_COLUMNS",
        "default_instrument",
        "default_instruments",
        "missing_instruments",
        "read_instruments",
        "read_kite_instruments",
        "resolve_instruments",
    ]


def test_default_instruments_are_the_nse_large_caps_in_file_order():
    assert list(default_instruments()) == DEFAULT_SYMBOLS


def test_default_instruments_are_cash_equity_on_a_five_paise_tick():
    for symbol, instrument in default_instruments().items():
        assert instrument.symbol == symbol
        assert instrument.exchange == "NSE"
        assert instrument.tick_size == Decimal("0.05") and isinstance(instrument.tick_size, Decimal)
        assert instrument.lot_size == 1
        assert instrument.freeze_quantity is None
        assert instrument.name


def test_default_instruments_are_read_once_and_each_call_gets_its_own_dict():
    first = default_instruments()
    first.pop("TCS")
    first["FAKE"] = default_instrument("FAKE")
    second = default_instruments()
    assert list(second) == DEFAULT_SYMBOLS
    assert second["RELIANCE"] is default_instruments()["RELIANCE"]


def test_data_copy_of_the_instrument_list_matches_the_package_copy():
    packaged = (ROOT / "oms_kit" / "instruments.csv").read_bytes()
    browsable = (ROOT / "data" / "instruments.csv").read_bytes()
    assert browsable == packaged, "edit both: cp oms_kit/instruments.csv data/instruments.csv"


def test_every_file_in_data_is_described_in_its_readme():
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    undocumented = [
        path.name for path in (ROOT / "data").iterdir() if path.name != "README.md" and path.name not in readme
    ]
    assert undocumented == [], "say what these files are and where they come from in data/README.md"


def test_resolve_instruments_without_instruments_gives_the_defaults():
    assert resolve_instruments() == default_instruments()
    assert resolve_instruments(None) == default_instruments()


def test_resolve_instruments_adds_new_symbols_after_the_defaults():
    nifty = Instrument("NIFTY26JANFUT", exchange="NFO", tick_size=Decimal("0.05"), lot_size=65)
    resolved = resolve_instruments([nifty])
    assert list(resolved) == [*DEFAULT_SYMBOLS, "NIFTY26JANFUT"]
    assert resolved["NIFTY26JANFUT"] is nifty


def test_resolve_instruments_replaces_a_default_with_the_same_symbol():
    reliance = Instrument("RELIANCE", tick_size=Decimal("0.10"), lot_size=1)
    resolved = resolve_instruments([reliance])
    assert resolved["RELIANCE"] is reliance
    assert len(resolved) == len(DEFAULT_SYMBOLS)


def test_resolve_instruments_with_replace_keeps_only_the_given_instruments():
    tcs = Instrument("TCS")
    assert resolve_instruments([tcs], replace=True) == {"TCS": tcs}
    assert resolve_instruments(None, replace=True) == {}


def test_resolve_instruments_accepts_a_mapping_of_instruments():
    tcs = Instrument("TCS", tick_size=Decimal("0.10"))
    assert resolve_instruments({"TCS": tcs}, replace=True) == {"TCS": tcs}


def test_resolve_instruments_refuses_something_that_is_not_an_instrument():
    with pytest.raises(ConfigError, match=r"invalid instruments: 'RELIANCE'.*Instrument") as caught:
        resolve_instruments(["RELIANCE"])  # type: ignore[list-item]
    assert caught.value.field == "instruments" and not isinstance(caught.value, InvalidOrderError)


def test_resolve_instruments_refuses_two_different_definitions_of_one_symbol():
    with pytest.raises(ConfigError, match=r"invalid instruments \(symbol TCS given twice\)"):
        resolve_instruments([Instrument("TCS"), Instrument("TCS", lot_size=5)])


def test_resolve_instruments_allows_the_same_definition_twice():
    assert resolve_instruments([Instrument("TCS"), Instrument("TCS")], replace=True) == {"TCS": Instrument("TCS")}


def test_default_instrument_has_a_one_paisa_tick_and_lot_one():
    instrument = default_instrument("NEWCO")
    assert (instrument.symbol, instrument.exchange) == ("NEWCO", "NSE")
    assert instrument.tick_size == Decimal("0.01") and instrument.lot_size == 1
    assert instrument.round_price(101.234) == Decimal("101.23")


def test_read_instruments_reads_a_user_file(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("symbol,tick_size,lot_size,freeze_quantity\nBANKNIFTY26JANFUT,0.20,30,900\nTATASTEEL,0.01,1,\n")
    banknifty, tatasteel = read_instruments(path)
    assert banknifty == Instrument("BANKNIFTY26JANFUT", tick_size=Decimal("0.20"), lot_size=30, freeze_quantity=900)
    assert tatasteel.exchange == "NSE" and tatasteel.freeze_quantity is None and tatasteel.name == ""


def test_read_instruments_missing_column_error_names_it():
    with pytest.raises(DataError, match=r"invalid instrument columns in .* \(missing: lot_size\)"):
        read_instruments(io.StringIO("symbol,tick_size\nTCS,0.05\n"))


@pytest.mark.parametrize(("row", "column", "value"), [("TCS,abc,1", "tick_size", "abc"),
                                                    ("TCS,0.05,one", "lot_size", "one"),
                                                    ("TCS,-0.05,1", "tick_size", "-0.05"),
                                                    (",0.05,1", "symbol", ""),
                                                    ("TCS,0.05,0", "lot_size", "0")])
def test_read_instruments_bad_row_error_names_the_column_line_and_value(row, column, value):
    with pytest.raises(DataError, match=f"invalid {column} on line 3 of ") as caught:
        read_instruments(io.StringIO(f"symbol,tick_size,lot_size\nINFY,0.05,1\n{row}\n"))
    assert (caught.value.value, caught.value.row) == (value, 3)
    assert not isinstance(caught.value, InvalidOrderError)


def test_read_instruments_reads_futures_and_options_columns():
    text = ("symbol,exchange,tick_size,lot_size,freeze_quantity,instrument_type,underlying,expiry,strike,segment,"
            "instrument_token\n"
            "NIFTY26JANFUT,NFO,0.05,65,1800,FUT,NIFTY,2026-01-27,,NFO-FUT,230405378\n"
            "NIFTY26JAN25800CE,NFO,0.05,65,1800,CE,NIFTY,2026-01-27,25800,NFO-OPT,\n"
            "INFY,NSE,0.05,1,,,,,,,\n")
    future, call, infy = read_instruments(io.StringIO(text))
    assert (future.instrument_type, future.underlying, future.expiry, future.strike) == (
        "FUT", "NIFTY", date(2026, 1, 27), None)
    assert (future.lot_size, future.freeze_quantity, future.instrument_token) == (65, 1800, 230405378)
    assert (call.instrument_type, call.strike, call.segment, call.instrument_token) == (
        "CE", Decimal(25800), "NFO-OPT", None)
    assert infy == Instrument("INFY")


@pytest.mark.parametrize(("cells", "column"), [
    ("FUT,NIFTY,2026-02-30,", "expiry"), ("CE,NIFTY,2026-01-27,x", "strike"), ("CE,NIFTY,2026-01-27,", "strike"),
    ("XX,NIFTY,2026-01-27,", "instrument_type"), ("FUT,,2026-01-27,", "underlying"), ("EQ,,2026-01-27,", "expiry"),
])
def test_read_instruments_bad_contract_cell_names_its_column(cells, column):
    text = f"symbol,tick_size,lot_size,instrument_type,underlying,expiry,strike\nX,0.05,75,{cells}\n"
    with pytest.raises(DataError, match=f"invalid {column} on line 2 of "):
        read_instruments(io.StringIO(text))


@pytest.mark.parametrize(("field", "value"), [("symbol", ""), ("tick_size", "abc"), ("tick_size", 0),
                                              ("lot_size", 0), ("freeze_quantity", 1.5)])
def test_a_bad_instrument_definition_is_a_config_error_naming_the_field(field, value):
    # An instrument is a setting: a bad one is not a bad order.
    kwargs = {"symbol": "TCS", field: value}
    with pytest.raises(ConfigError, match=f"invalid {field}: ") as caught:
        Instrument(**kwargs)
    assert (caught.value.field, caught.value.value) == (field, value)
    assert not isinstance(caught.value, InvalidOrderError)
