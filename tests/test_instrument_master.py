"""The instrument master: Kite's dump and the kit's CSV loaded, looked up by key, symbol, token, underlying and
expiry; lot sizes per contract; malformed files named to the cell; hostile text and lookups."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError, DataError
from oms_kit.instrument_master import (
    KITE_COLUMNS,
    SAMPLE_FREEZE_QUANTITIES,
    InstrumentLookupError,
    Instruments,
)
from oms_kit.instruments import resolve_instruments
from oms_kit.tradable import Instrument

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "oms_kit" / "kite_instruments_2025-11-03.csv"
SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
HEADER = ",".join(KITE_COLUMNS)


def sample_rows() -> list[dict[str, str]]:
    """The sample read with the csv module alone, as the expectation the loader is checked against."""
    return list(csv.DictReader(io.StringIO(SAMPLE_TEXT)))


def with_cell(line: int, column: str, value: str) -> str:
    """The sample with one cell changed: ``line`` as an editor counts (the header is line 1)."""
    rows = list(csv.reader(io.StringIO(SAMPLE_TEXT)))
    rows[line - 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def line_of(symbol: str) -> int:
    return next(n for n, row in enumerate(sample_rows(), start=2) if row["tradingsymbol"] == symbol)


@pytest.fixture(scope="module")
def master() -> Instruments:
    return Instruments.sample()


# -- the sample ------------------------------------------------------------------------------------------------------


def test_the_sample_holds_every_tradable_row_of_the_file_in_file_order(master):
    tradable = [row for row in sample_rows() if row["segment"] != "INDICES"]
    assert [i.symbol for i in master] == [row["tradingsymbol"] for row in tradable]
    assert len(master) == len(tradable) < len(sample_rows())
    for instrument, row in zip(master, tradable, strict=True):
        assert instrument.instrument_token == int(row["instrument_token"])
        assert instrument.exchange == row["exchange"] and instrument.segment == row["segment"]
        assert instrument.instrument_type == row["instrument_type"]
        assert instrument.lot_size == int(row["lot_size"]) and instrument.tick_size == Decimal(row["tick_size"])
        assert instrument.expiry == (date.fromisoformat(row["expiry"]) if row["expiry"] else None)


def test_the_packaged_sample_and_its_data_copy_are_identical():
    assert (ROOT / "data" / SAMPLE.name).read_bytes() == SAMPLE.read_bytes(), \
        f"edit both: cp oms_kit/{SAMPLE.name} data/{SAMPLE.name}"


def test_the_sample_is_kites_format_and_its_tokens_follow_kites_layout():
    assert SAMPLE_TEXT.splitlines()[0] == HEADER
    for row in sample_rows():
        # Kite's instrument token is the exchange token shifted left by 8 bits, with the segment in the low byte.
        assert int(row["instrument_token"]) >> 8 == int(row["exchange_token"])


def test_every_contract_is_on_a_five_paise_tick_with_its_kind_in_its_segment(master):
    for instrument in master:
        assert instrument.tick_size == Decimal("0.05")
        expected = {"EQ": "NSE", "FUT": "NFO-FUT", "CE": "NFO-OPT", "PE": "NFO-OPT"}[instrument.instrument_type]
        assert instrument.segment == expected
        assert (instrument.underlying is None) == (instrument.instrument_type == "EQ")
        assert (instrument.strike is not None) == instrument.is_option


def test_freeze_quantities_are_the_underlyings_and_equities_have_none(master):
    for instrument in master:
        if instrument.underlying is None:
            assert instrument.freeze_quantity is None
        else:
            assert instrument.freeze_quantity == SAMPLE_FREEZE_QUANTITIES[instrument.underlying]
    assert master["NIFTY25NOVFUT"].freeze_quantity == 1800 and master["BANKNIFTY25NOVFUT"].freeze_quantity == 600


def test_the_sample_is_read_once_and_shared():
    assert next(iter(Instruments.sample())) is next(iter(Instruments.sample()))


# -- lot sizes per contract --------------------------------------------------------------------------------------------


def test_nifty_lot_sizes_differ_by_contract_on_one_day(master):
    # NSE/FAOP/70616 (3 October 2025): 75 -> 65 for contracts listed after 28 October 2025; the weekly and monthly
    # contracts to 30 December 2025 and the existing quarterlies keep 75 (the quarterlies until then).
    lots = {f.expiry: f.lot_size for f in master.futures("NIFTY")}
    assert lots == {date(2025, 11, 25): 75, date(2025, 12, 30): 75, date(2026, 1, 27): 65}
    assert {o.lot_size for o in master.options("NIFTY", "2025-11-04")} == {75}
    assert {o.lot_size for o in master.options("NIFTY", "2026-01-27")} == {65}
    assert {o.lot_size for o in master.options("NIFTY", "2026-03-31")} == {75}


def test_banknifty_lot_sizes_differ_by_contract_on_one_day(master):
    lots = {f.expiry: f.lot_size for f in master.futures("BANKNIFTY")}
    assert lots == {date(2025, 11, 25): 35, date(2025, 12, 30): 35, date(2026, 1, 27): 30}
    for option in master.options("BANKNIFTY"):
        assert option.lot_size == lots[option.expiry]  # a future and the options of its expiry share the lot


def test_an_order_quantity_is_checked_against_its_own_contracts_lot(master):
    november, january = master.future("NIFTY", "2025-11-25"), master.future("NIFTY", "2026-01-27")
    assert november.is_lot_multiple(150) and not january.is_lot_multiple(150)
    assert january.is_lot_multiple(130) and not november.is_lot_multiple(130)


# -- lookups ---------------------------------------------------------------------------------------------------------


def test_lookup_by_exchange_and_symbol_by_symbol_and_by_token(master):
    for instrument in master:
        assert master[instrument.key] is instrument
        assert master[instrument.symbol] is instrument
        assert master.get(instrument.key) is instrument
        assert master.by_token(instrument.instrument_token) is instrument
        assert instrument.key in master and instrument.symbol in master and instrument in master
    assert master["NSE:INFY"].name == "INFOSYS" and master["NSE:INFY"].instrument_token == 408065


@pytest.mark.parametrize("key", ["NSE:NIFTY25NOVFUT", "NFO:INFY", "nse:INFY", "INFY ", "", ":", "NIFTY 50"])
def test_a_key_the_master_lacks_is_a_lookup_error_naming_it(master, key):
    assert master.get(key) is None and master.get(key, "none") == "none" and key not in master
    with pytest.raises(InstrumentLookupError, match="invalid symbol") as caught:
        master[key]
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ConfigError)
    assert caught.value.value == key


def test_a_symbol_on_two_exchanges_needs_its_exchange():
    nse, bse = Instrument("SBIN"), Instrument("SBIN", exchange="BSE")
    both = Instruments([nse, bse])
    assert both["NSE:SBIN"] is nse and both["BSE:SBIN"] is bse and both.get("SBIN") is None
    with pytest.raises(InstrumentLookupError, match="one of NSE:SBIN, BSE:SBIN"):
        both["SBIN"]


def test_an_unknown_token_is_a_lookup_error(master):
    for token in (0, 1, -408065, True, "408065", 408065.0):
        with pytest.raises(InstrumentLookupError, match="invalid instrument_token"):
            master.by_token(token)


def test_futures_of_an_underlying_nearest_first(master):
    futures = master.futures("NIFTY")
    assert [f.symbol for f in futures] == ["NIFTY25NOVFUT", "NIFTY25DECFUT", "NIFTY26JANFUT"]
    assert all(f.is_future and f.underlying == "NIFTY" and f.strike is None for f in futures)
    assert master.futures("NIFTY", exchange="BFO") == [] and master.futures("SENSEX") == []
    assert master.future("NIFTY", date(2025, 12, 30)) is master["NFO:NIFTY25DECFUT"]
    assert master.future("NIFTY", "2025-12-30", exchange="NFO") is master["NFO:NIFTY25DECFUT"]


def test_a_future_that_is_not_listed_is_a_lookup_error_with_the_listed_expiries(master):
    with pytest.raises(InstrumentLookupError, match="2025-11-25, 2025-12-30, 2026-01-27"):
        master.future("NIFTY", "2025-11-04")  # a weekly options expiry: no future
    with pytest.raises(InstrumentLookupError, match="no FUT contracts"):
        master.future("INFY", "2025-11-25")


def test_expiries_of_an_underlying_by_kind(master):
    weekly = [date(2025, 11, 4), date(2025, 11, 11)]
    monthly = [date(2025, 11, 25), date(2025, 12, 30), date(2026, 1, 27)]
    assert master.expiries("NIFTY", "FUT") == monthly
    assert master.expiries("NIFTY", "OPT") == [*weekly, *monthly, date(2026, 3, 31)]
    assert master.expiries("NIFTY", "ce") == master.expiries("NIFTY", "PE") == master.expiries("NIFTY", "OPT")
    assert master.expiries("NIFTY") == master.expiries("NIFTY", "OPT")
    assert master.expiries("BANKNIFTY") == monthly
    assert master.expiries("RELIANCE") == [] and master.underlyings() == ["BANKNIFTY", "NIFTY"]
    with pytest.raises(ConfigError, match="invalid instrument_type: 'EQ'"):
        master.expiries("NIFTY", "EQ")


def test_an_option_chains_strikes_and_its_options(master):
    assert master.strikes("NIFTY", "2025-11-04") == [Decimal(25600), Decimal(25700), Decimal(25800)]
    assert master.strikes("NIFTY", date(2025, 11, 11)) == [Decimal(25700)]
    assert master.strikes("BANKNIFTY", "2025-11-25") == [Decimal(57500), Decimal(58000)]
    assert master.strikes("NIFTY", "2025-11-05") == []
    chain = master.options("NIFTY", "2025-11-25")
    assert [(o.strike, o.instrument_type) for o in chain] == [
        (Decimal(k), t) for k in (25600, 25700, 25800) for t in ("CE", "PE")]
    assert [o.instrument_type for o in master.options("NIFTY", "2025-11-25", "PE")] == ["PE"] * 3
    assert len(master.options("NIFTY")) == sum(
        1 for row in sample_rows() if row["name"] == "NIFTY" and row["instrument_type"] in ("CE", "PE"))


@pytest.mark.parametrize("strike", [25700, "25700", Decimal("25700.00"), 25700.0])
def test_one_option_by_underlying_expiry_strike_and_type(master, strike):
    call = master.option("NIFTY", "2025-11-04", strike, "CE")
    assert call.symbol == "NIFTY25N0425700CE" and call.strike == Decimal(25700)
    assert master.option("NIFTY", date(2025, 11, 4), strike, "pe", exchange="NFO").symbol == "NIFTY25N0425700PE"


def test_an_option_that_is_not_listed_is_a_lookup_error(master):
    with pytest.raises(InstrumentLookupError, match="invalid strike: 25750"):
        master.option("NIFTY", "2025-11-25", 25750, "CE")
    with pytest.raises(InstrumentLookupError):
        master.option("NIFTY", "2025-11-25", 25700, "CE", exchange="BFO")


@pytest.mark.parametrize(("call", "field"), [
    (lambda m: m.future("NIFTY", "25-11-2025"), "expiry"),
    (lambda m: m.future("NIFTY", datetime(2025, 11, 25)), "expiry"),
    (lambda m: m.options("NIFTY", 20251125), "expiry"),
    (lambda m: m.option("NIFTY", "2025-11-25", "abc", "CE"), "strike"),
    (lambda m: m.option("NIFTY", "2025-11-25", -25700, "CE"), "strike"),
    (lambda m: m.option("NIFTY", "2025-11-25", 25700, "CALL"), "option_type"),
    (lambda m: m.futures(None), "underlying"),
    (lambda m: m.futures("NIFTY", exchange=5), "exchange"),
])
def test_malformed_lookup_arguments_are_config_errors_naming_them(master, call, field):
    with pytest.raises(ConfigError) as caught:
        call(master)
    assert caught.value.field == field and not isinstance(caught.value, InstrumentLookupError)


def test_to_frame_has_a_row_per_instrument_and_reads_back_with_the_kits_csv(master, tmp_path):
    frame = master.to_frame()
    assert list(frame["symbol"]) == [i.symbol for i in master]
    assert frame.loc[frame["symbol"] == "NIFTY26JANFUT", "lot_size"].item() == 65
    assert frame.loc[frame["symbol"] == "INFY", "expiry"].item() is None
    path = tmp_path / "master.csv"
    frame.to_csv(path, index=False)
    assert list(Instruments.from_csv(path)) == list(master)


def test_the_master_feeds_the_oms_instrument_list(master):
    resolved = resolve_instruments(master, replace=True)
    assert list(resolved.values()) == list(master)
    assert resolved["NIFTY26JANFUT"].lot_size == 65


def test_instruments_refuses_duplicates_and_non_instruments():
    tcs = Instrument("TCS")
    for twice in ([tcs, Instrument("TCS", lot_size=5)], [tcs, tcs]):
        with pytest.raises(ConfigError, match=r"NSE:TCS given twice"):
            Instruments(twice)
    with pytest.raises(ConfigError, match="instrument token 7 given twice"):
        Instruments([Instrument("TCS", instrument_token=7), Instrument("INFY", instrument_token=7)])
    with pytest.raises(ConfigError, match="invalid instruments: 'TCS'"):
        Instruments(["TCS"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="an iterable of Instrument"):
        Instruments("TCS")  # type: ignore[arg-type]


def test_the_kits_csv_with_a_repeated_key_is_a_data_error():
    with pytest.raises(DataError, match="NSE:TCS given twice"):
        Instruments.from_csv(io.StringIO("symbol,tick_size,lot_size\nTCS,0.05,1\nTCS,0.10,1\n"))


# -- malformed dumps -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["lot_size", "expiry", "strike", "tradingsymbol", "instrument_token"])
def test_a_dump_without_a_required_column_is_a_data_error_naming_it(column):
    columns = [c for c in KITE_COLUMNS if c != column]
    rows = [{c: row[c] for c in columns} for row in sample_rows()]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    out.seek(0)
    with pytest.raises(DataError, match=rf"\(missing: {column}\)"):
        Instruments.from_kite(out)


def test_a_dump_needs_neither_exchange_token_nor_last_price():
    rows = [{c: row[c] for c in KITE_COLUMNS if c not in ("exchange_token", "last_price")} for row in sample_rows()]
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    out.seek(0)
    assert [i.symbol for i in Instruments.from_kite(out)] == [i.symbol for i in Instruments.sample()]


@pytest.mark.parametrize(("symbol", "column", "value", "allowed"), [
    ("NIFTY25NOVFUT", "expiry", "2025-13-25", "YYYY-MM-DD"),
    ("NIFTY25NOVFUT", "expiry", "25-11-2025", "YYYY-MM-DD"),
    ("NIFTY25NOVFUT", "expiry", "20251125", "YYYY-MM-DD"),
    ("NIFTY25NOVFUT", "expiry", "", "datetime.date"),
    ("INFY", "expiry", "2025-11-25", "None for cash equity"),
    ("NIFTY25NOV25700CE", "strike", "abc", "a number"),
    ("NIFTY25NOV25700CE", "strike", "0.0", "above 0"),
    ("NIFTY25NOV25700CE", "strike", "-25700", "above 0"),
    ("NIFTY25NOV25700CE", "strike", "", "above 0"),
    ("NIFTY25NOVFUT", "strike", "25700", "None for a future"),
    ("NIFTY25NOVFUT", "strike", "sNaN", "a number"),
    ("NIFTY25NOVFUT", "tradingsymbol", "NIFTY\x0025NOVFUT", "printable"),
    ("INFY", "strike", "sNaN", "a number"),
    ("NIFTY25NOVFUT", "lot_size", "-75", "a whole number from 1"),
    ("NIFTY25NOVFUT", "lot_size", "0", "a whole number from 1"),
    ("NIFTY25NOVFUT", "lot_size", "75.5", "a whole number from 1"),
    ("NIFTY25NOVFUT", "lot_size", "", "a non-empty text"),
    ("NIFTY25NOVFUT", "tick_size", "0", "above 0"),
    ("NIFTY25NOVFUT", "tick_size", "NaN", "above 0"),
    ("NIFTY25NOVFUT", "instrument_type", "OPTIDX", "EQ, FUT, CE, PE"),
    ("NIFTY25NOVFUT", "instrument_token", "-1", "digits only"),
    ("NIFTY25NOVFUT", "instrument_token", "4294967296", "4,294,967,295"),
    ("NIFTY25NOVFUT", "name", "", "the underlying's symbol"),
    ("NIFTY26JANFUT", "tradingsymbol", "NIFTY25DECFUT", "one row per EXCHANGE:SYMBOL"),
    ("NIFTY25NOVFUT", "instrument_token", "408065", "one row per token"),
    ("NIFTY25NOVFUT", "exchange", "", "a non-empty text"),
])
def test_a_bad_cell_is_a_data_error_naming_its_column_line_and_value(symbol, column, value, allowed):
    line = line_of(symbol)
    with pytest.raises(DataError) as caught:
        Instruments.from_kite(io.StringIO(with_cell(line, column, value)))
    error = caught.value
    assert error.field.startswith(f"{column} on line {line} of ")
    assert str(error.value) == value and error.row == line
    assert allowed in error.allowed


def test_a_dump_file_that_is_not_utf8_is_a_data_error(tmp_path):
    path = tmp_path / "instruments.csv"
    path.write_bytes(HEADER.encode() + b"\n408065,1594,INF\xff,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE\n")
    with pytest.raises(DataError, match="UTF-8"):
        Instruments.from_kite(path)


def test_a_dump_is_read_from_a_path_with_a_byte_order_mark_and_spaced_header(tmp_path):
    # Kite's documentation shows the header with a blank after each comma; a spreadsheet adds a BOM.
    path = tmp_path / "instruments.csv"
    path.write_text("\ufeff" + ", ".join(KITE_COLUMNS) + "\n408065,1594,INFY,INFOSYS,0,,,0.05,1,EQ,NSE,NSE\n"
                    "5720322,22345,NIFTY15DECFUT,NIFTY,78.0,2015-12-31,,0.05,75,FUT,NFO-FUT,NFO\n",
                    encoding="utf-8")
    master = Instruments.from_kite(path, freeze_quantities={"NIFTY": 1800})
    assert master["NFO:NIFTY15DECFUT"].lot_size == 75 and master["NFO:NIFTY15DECFUT"].strike is None
    assert master["NFO:NIFTY15DECFUT"].freeze_quantity == 1800 and master["INFY"].freeze_quantity is None


@pytest.mark.parametrize("freeze", [{"NIFTY": 0}, {"NIFTY": "many"}, [("NIFTY", 1800)]])
def test_bad_freeze_quantities_are_a_config_error_naming_the_argument(freeze):
    with pytest.raises(ConfigError, match="invalid freeze_quantities") as caught:
        Instruments.from_kite(io.StringIO(SAMPLE_TEXT), freeze_quantities=freeze)
    assert not isinstance(caught.value, DataError)


# -- F&O fields of Instrument ----------------------------------------------------------------------------------------


def test_an_equity_keeps_its_defaults():
    infy = Instrument("INFY")
    assert (infy.instrument_type, infy.underlying, infy.expiry, infy.strike, infy.segment,
            infy.instrument_token) == ("EQ", None, None, None, None, None)
    assert infy.key == "NSE:INFY" and not infy.is_option and not infy.is_future


def test_an_option_keeps_whole_strikes_whole_and_equal():
    a = Instrument("X", "NFO", instrument_type="CE", underlying="NIFTY", expiry=date(2025, 11, 25), strike="25800.0")
    b = Instrument("X", "NFO", instrument_type="CE", underlying="NIFTY", expiry=date(2025, 11, 25), strike=25800)
    assert a == b and hash(a) == hash(b) and str(a.strike) == "25800"
    half = Instrument("Y", "CDS", instrument_type="PE", underlying="USDINR", expiry=date(2025, 11, 25),
                      strike="88.25")
    assert half.strike == Decimal("88.25") and half.is_option


@pytest.mark.parametrize(("fields", "field"), [
    ({"instrument_type": "OPT"}, "instrument_type"),
    ({"expiry": date(2025, 11, 25)}, "expiry"),
    ({"strike": 100}, "strike"),
    ({"instrument_type": "FUT", "expiry": date(2025, 11, 25)}, "underlying"),
    ({"instrument_type": "FUT", "underlying": "NIFTY"}, "expiry"),
    ({"instrument_type": "FUT", "underlying": "NIFTY", "expiry": datetime(2025, 11, 25)}, "expiry"),
    ({"instrument_type": "FUT", "underlying": "NIFTY", "expiry": "2025-11-25"}, "expiry"),
    ({"instrument_type": "FUT", "underlying": "NIFTY", "expiry": date(2025, 11, 25), "strike": 1}, "strike"),
    ({"instrument_type": "CE", "underlying": "NIFTY", "expiry": date(2025, 11, 25)}, "strike"),
    ({"instrument_type": "PE", "underlying": "NIFTY", "expiry": date(2025, 11, 25), "strike": "nan"}, "strike"),
    ({"instrument_type": "CE", "underlying": " ", "expiry": date(2025, 11, 25), "strike": 1}, "underlying"),
    ({"segment": ""}, "segment"),
    ({"instrument_token": 0}, "instrument_token"),
    ({"instrument_token": True}, "instrument_token"),
    ({"instrument_token": 2**32}, "instrument_token"),
    ({"instrument_token": "408065"}, "instrument_token"),
])
def test_bad_contract_fields_are_config_errors_naming_the_field(fields, field):
    with pytest.raises(ConfigError) as caught:
        Instrument("X", **fields)
    assert caught.value.field == field


# -- hostile input (Hypothesis) --------------------------------------------------------------------------------------

HOSTILE_CELLS = st.one_of(
    st.sampled_from(["", " ", "0", "0.0", "-1", "1", "75", "0.05", "NaN", "sNaN", "Infinity", "-Infinity", "1e999",
                     "1e-999", "2025-11-25", "2025-02-30", "9999-12-31", "0001-01-01", "EQ", "FUT", "CE", "PE",
                     "NFO", "NSE", "NFO-OPT", "INDICES", "NIFTY", "\x00", "\ufeff", "٣", "1_000", "4294967295",
                     "4294967296", "99999999999999999999999", '"', ",", "\n", "\r\n"]),
    st.text(max_size=12),
)


def check_loaded(master: Instruments) -> None:
    """What every successfully loaded master guarantees."""
    for instrument in master:
        assert instrument.lot_size >= 1 and instrument.tick_size > 0 and instrument.symbol
        assert master[instrument.key] is instrument
        assert master.by_token(instrument.instrument_token) is instrument
        if instrument.instrument_type != "EQ":
            assert isinstance(instrument.expiry, date) and instrument.underlying
            assert instrument in master.futures(instrument.underlying) + master.options(instrument.underlying)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_loads_or_is_a_data_error(text):
    for source in (text, HEADER + "\n" + text):
        try:
            master = Instruments.from_kite(io.StringIO(source))
        except DataError:
            continue
        check_loaded(master)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(HOSTILE_CELLS, min_size=10, max_size=14), max_size=6))
def test_hostile_rows_load_or_are_a_data_error_naming_a_line(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KITE_COLUMNS)
    writer.writerows(rows)
    try:
        master = Instruments.from_kite(io.StringIO(out.getvalue()))
    except DataError as error:
        assert " on line " in error.field or "missing" in error.field or "row" in error.field
        return
    check_loaded(master)


CONTRACTS = st.builds(
    lambda kind, underlying, expiry, strike, lot, tick: (kind, underlying, expiry, strike, lot, tick),
    st.sampled_from(["FUT", "CE", "PE"]),
    st.sampled_from(["NIFTY", "BANKNIFTY", "FINNIFTY", "M&M", "NIFTY NXT"]),
    st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    st.decimals(min_value=Decimal("0.05"), max_value=Decimal(200000), places=2),
    st.integers(1, 10**6),
    st.sampled_from(["0.05", "0.01", "0.0025", "1", "0.1"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(CONTRACTS, max_size=12, unique_by=lambda c: (c[0], c[1], c[2], c[3] if c[0] != "FUT" else 0)))
def test_contracts_written_in_kites_format_read_back_exactly(contracts):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KITE_COLUMNS)
    for n, (kind, underlying, expiry, strike, lot, tick) in enumerate(contracts, start=1):
        symbol = f"{underlying}{expiry:%y%m%d}{'FUT' if kind == 'FUT' else f'{strike}{kind}'}"
        writer.writerow([n << 8 | 2, n, symbol, underlying, "0.0", expiry.isoformat(),
                         "0.0" if kind == "FUT" else str(strike), tick, lot, kind,
                         "NFO-FUT" if kind == "FUT" else "NFO-OPT", "NFO"])
    master = Instruments.from_kite(io.StringIO(out.getvalue()))
    assert len(master) == len(contracts)
    for (kind, underlying, expiry, strike, lot, tick), instrument in zip(contracts, master, strict=True):
        assert (instrument.instrument_type, instrument.underlying, instrument.expiry) == (kind, underlying, expiry)
        assert instrument.lot_size == lot and instrument.tick_size == Decimal(tick)
        if kind == "FUT":
            assert instrument.strike is None and master.future(underlying, expiry) is instrument
        else:
            assert instrument.strike == strike
            assert master.option(underlying, expiry, strike, kind) is instrument
            assert strike in master.strikes(underlying, expiry)
        assert expiry in master.expiries(underlying)


LOOKUP_VALUES = st.one_of(st.text(max_size=20), st.none(), st.integers(), st.floats(), st.booleans(),
                          st.dates(), st.decimals(), st.sampled_from(["NIFTY", "NFO:NIFTY25NOVFUT", "2025-11-25",
                                                                      "25700", "CE", "pe", "FUT", "OPT"]))


@settings(max_examples=400, deadline=None)
@given(LOOKUP_VALUES, LOOKUP_VALUES, LOOKUP_VALUES, LOOKUP_VALUES)
def test_hostile_lookups_answer_or_raise_a_config_error(a, b, c, d):
    master = Instruments.sample()
    found = master.get(a)
    assert found is None or found.key == a or found.symbol == a
    calls = [
        lambda: master[a], lambda: master.by_token(a), lambda: master.futures(a), lambda: master.future(a, b),
        lambda: master.options(a, b, c), lambda: master.option(a, b, c, d), lambda: master.expiries(a, b),
        lambda: master.strikes(a, b), lambda: a in master,
    ]
    for call in calls:
        try:
            result = call()
        except ConfigError:
            continue
        assert isinstance(result, Instrument | list | bool)


def test_instruments_is_exported_from_the_package():
    assert ok.Instruments is Instruments and "Instruments" in ok.__all__
