"""The ledger: netting, average price, realized and unrealized P&L, cash, idempotency, and its conservation law."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.ledger import Ledger, SquareOff
from oms_kit.models import Fill, OrderId, Position, Product, Side, TradeId
from oms_kit.tables import POSITION_COLUMNS
from tests.stubs import T0

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
CNC, MIS, NRML = Product.CNC, Product.MIS, Product.NRML
_ids = itertools.count(1)


def make_fill(
    side: Side,
    quantity: int,
    price: str | Decimal,
    symbol: str = "RELIANCE",
    product: Product = MIS,
    fees: str | Decimal = "0",
    trade_id: str | None = None,
    **overrides: object,
) -> Fill:
    number = next(_ids)
    values: dict[str, object] = {
        "trade_id": TradeId(trade_id or f"T-{number}"),
        "order_id": OrderId(f"O-{number}"),
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "price": D(price),
        "fees": D(fees),
        "ts": T0,
        "product": product,
    }
    values.update(overrides)
    return Fill(**values)  # type: ignore[arg-type]


# -- netting and average price ----------------------------------------------------------------------------------


def test_first_buy_opens_a_long_position_at_the_fill_price():
    ledger = Ledger(D(100_000))

    position = ledger.apply_fill(make_fill(BUY, 10, "100"))

    assert (position.quantity, position.average_price, position.realized_pnl) == (10, D("100"), D(0))
    assert (position.bought_quantity, position.sold_quantity) == (10, 0)
    assert position.updated_at == T0


def test_adding_to_a_position_moves_the_average_price():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100"))

    position = ledger.apply_fill(make_fill(BUY, 30, "104"))

    assert position.quantity == 40
    assert position.average_price == D("103")  # (10 x 100 + 30 x 104) / 40


def test_average_price_is_kept_to_eight_decimal_places():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 1, "100"))

    position = ledger.apply_fill(make_fill(BUY, 2, "101"))

    assert position.average_price == D("100.66666667")  # 302 / 3


def test_reducing_a_long_realizes_pnl_and_keeps_the_average():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100"))

    position = ledger.apply_fill(make_fill(SELL, 4, "105"))

    assert position.quantity == 6
    assert position.average_price == D("100")
    assert position.realized_pnl == D("20")  # (105 - 100) x 4


def test_covering_a_short_below_its_average_realizes_a_gain():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(SELL, 10, "200"))

    position = ledger.apply_fill(make_fill(BUY, 10, "190"))

    assert position.quantity == 0
    assert position.realized_pnl == D("100")  # (200 - 190) x 10


def test_closing_leaves_a_flat_position_with_its_realized_pnl_and_fees():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", fees="1.50"))

    position = ledger.apply_fill(make_fill(SELL, 10, "90", fees="2.25"))

    assert position.quantity == 0
    assert position.average_price == D(0)
    assert position.realized_pnl == D("-100")
    assert position.fees == D("3.75")
    assert list(ledger.positions) == [position]  # still in the day book


def test_reopening_a_flat_position_starts_at_the_new_fill_price_and_keeps_realized():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100"))
    ledger.apply_fill(make_fill(SELL, 10, "110"))

    position = ledger.apply_fill(make_fill(SELL, 3, "120"))

    assert (position.quantity, position.average_price, position.realized_pnl) == (-3, D("120"), D("100"))


def test_flip_through_zero_closes_the_old_side_and_opens_the_rest_at_the_fill_price():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100"))

    position = ledger.apply_fill(make_fill(SELL, 15, "110"))

    assert position.realized_pnl == D("100")  # (110 - 100) x 10 closed
    assert position.quantity == -5
    assert position.average_price == D("110")
    assert (position.bought_quantity, position.sold_quantity) == (10, 15)


def test_flip_from_short_to_long():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(SELL, 5, "100"))

    position = ledger.apply_fill(make_fill(BUY, 8, "104"))

    assert position.realized_pnl == D("-20")  # short 5 covered 4 higher
    assert (position.quantity, position.average_price) == (3, D("104"))


# -- marks, P&L and cash -----------------------------------------------------------------------------------------


def test_unrealized_pnl_follows_the_mark():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100"))
    ledger.apply_fill(make_fill(SELL, 4, "105"))

    ledger.mark("RELIANCE", D("98"))

    assert ledger.realized_pnl() == D("20")
    assert ledger.unrealized_pnl() == D("-12")  # (98 - 100) x 6
    assert ledger.day_pnl() == D("8")


def test_start_day_counts_the_days_pnl_from_there_and_keeps_the_positions():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100"))
    ledger.mark("RELIANCE", D("98"))
    assert ledger.day_pnl() == D("-20")

    ledger.start_day()
    assert ledger.day_pnl() == D("0")
    ledger.mark("RELIANCE", D("99"))
    ledger.apply_fill(make_fill(SELL, 4, "101", trade_id="T-2"))
    # Today: the mark from 98 to 99 on 10 (+10), then 4 sold at 101, 2 above that mark (+8).
    assert ledger.day_pnl() == D("18")
    assert ledger.realized_pnl() == D("4")  # positions keep their averages: (101 - 100) x 4
    assert ledger.net_quantity("RELIANCE") == 6


def test_unmarked_position_has_no_unrealized_pnl_and_counts_at_its_average():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100"))

    assert ledger.unrealized_pnl() == D(0)
    assert ledger.equity() == D(100_000)
    assert ledger.gross_exposure() == D(1000)


def test_mark_before_a_position_opens_is_applied_to_it():
    ledger = Ledger(D(100_000))
    ledger.mark("SBIN", D("801"))

    position = ledger.apply_fill(make_fill(BUY, 10, "800", symbol="SBIN"))

    assert position.last_price == D("801")
    assert ledger.unrealized_pnl() == D("10")


def test_mark_sets_every_products_last_price_and_time():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", product=CNC))
    ledger.apply_fill(make_fill(SELL, 5, "100", product=MIS))
    later = T0 + timedelta(minutes=5)

    ledger.mark("RELIANCE", D("102"), ts=later)

    assert {p.last_price for p in ledger.positions} == {D("102")}
    assert {p.updated_at for p in ledger.positions} == {later}
    assert ledger.unrealized_pnl() == D("10")  # +20 on the CNC long, -10 on the MIS short
    assert ledger.last_price("RELIANCE") == D("102")


def test_mark_converts_a_float_exactly_and_refuses_a_bad_price():
    ledger = Ledger(D(100_000))

    ledger.mark("RELIANCE", 2500.05)  # type: ignore[arg-type]

    assert ledger.last_price("RELIANCE") == D("2500.05")
    with pytest.raises(InvalidOrderError, match="price"):
        ledger.mark("RELIANCE", D("-1"))


def test_buy_spends_cash_sell_receives_it_and_fees_are_paid_from_cash():
    ledger = Ledger(D(100_000))

    ledger.apply_fill(make_fill(BUY, 10, "100", fees="21.02"))
    assert ledger.cash == D("98978.98")  # 100,000 - 1,000 - 21.02

    ledger.apply_fill(make_fill(SELL, 10, "110", fees="32.64"))
    assert ledger.cash == D("100046.34")  # + 1,100 - 32.64
    assert ledger.fees() == D("53.66")
    assert ledger.day_pnl() == D("46.34")  # realized 100 - fees 53.66


def test_short_sale_proceeds_are_cash_and_equity_marks_the_liability():
    ledger = Ledger(D(10_000))
    ledger.apply_fill(make_fill(SELL, 10, "100"))

    ledger.mark("RELIANCE", D("110"))

    assert ledger.cash == D(11_000)
    assert ledger.equity() == D(9_900)  # 11,000 - 10 x 110
    assert ledger.gross_exposure() == D(1_100)


def test_gross_exposure_sums_absolute_positions_at_mark_or_average():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", symbol="INFY"))
    ledger.apply_fill(make_fill(SELL, 5, "200", symbol="TCS"))
    ledger.mark("INFY", D("110"))

    assert ledger.gross_exposure() == D(2_100)  # 10 x 110 + 5 x 200 (TCS unmarked: its average)


# -- idempotency and accounts ------------------------------------------------------------------------------------


def test_duplicate_trade_id_is_ignored_and_position_returned_unchanged():
    ledger = Ledger(D(100_000))
    fill = make_fill(BUY, 10, "100", fees="5")
    first = ledger.apply_fill(fill)
    snapshot = dataclasses.replace(first)
    cash = ledger.cash

    again = ledger.apply_fill(fill)

    assert again is first
    assert again == snapshot
    assert ledger.cash == cash
    assert ledger.has_trade(fill.trade_id)


def test_fill_of_another_account_is_refused():
    ledger = Ledger(D(100_000), account="alpha")

    with pytest.raises(ConfigError, match="invalid account: 'beta'") as raised:
        ledger.apply_fill(make_fill(BUY, 1, "100", account="beta"))

    assert raised.value.field == "account"
    assert ledger.positions == ()


def test_cash_accepts_int_float_and_str_and_refuses_nonsense():
    assert Ledger(1_000_000).cash == D(1_000_000)
    assert Ledger(1000.5).cash == D("1000.5")
    assert Ledger("250.25").cash == D("250.25")
    with pytest.raises(ConfigError, match="invalid cash: 'lots'"):
        Ledger("lots")
    with pytest.raises(ConfigError, match="invalid cash: 'nan'"):
        Ledger(D(100)).restore([], "nan")


# -- products, lookups and tables --------------------------------------------------------------------------------


def test_products_are_netted_separately_and_net_quantity_sums_them():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", product=CNC))
    ledger.apply_fill(make_fill(SELL, 4, "101", product=MIS))
    ledger.apply_fill(make_fill(BUY, 1, "99", product=NRML))

    assert ledger.position("RELIANCE", CNC).quantity == 10  # type: ignore[union-attr]
    assert ledger.position("RELIANCE", MIS).quantity == -4  # type: ignore[union-attr]
    assert ledger.position("RELIANCE", MIS).realized_pnl == D(0)  # type: ignore[union-attr]  # not netted with CNC
    assert ledger.net_quantity("RELIANCE") == 7
    assert ledger.net_quantity("TCS") == 0
    assert len(ledger.symbol_positions("RELIANCE")) == 3


def test_position_without_product_when_held_in_one_product():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", product=CNC))

    assert ledger.position("RELIANCE") is ledger.position("RELIANCE", CNC)
    assert ledger.position("TCS") is None
    assert ledger.position("RELIANCE", MIS) is None


def test_position_without_product_when_held_in_two_products_raises_with_a_hint():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", product=CNC))
    ledger.apply_fill(make_fill(BUY, 10, "100", product=MIS))

    with pytest.raises(InvalidOrderError) as raised:
        ledger.position("RELIANCE")

    assert raised.value.field == "product"
    assert "net_quantity" in (raised.value.hint or "")


def test_to_frame_has_the_position_columns_one_row_per_position():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", symbol="TCS", fees="1"))
    ledger.apply_fill(make_fill(BUY, 10, "100", product=CNC))
    ledger.apply_fill(make_fill(SELL, 10, "110", product=CNC))
    ledger.mark("TCS", D("101"))

    frame = ledger.to_frame()

    required = [
        "symbol",
        "product",
        "quantity",
        "average_price",
        "last_price",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
    ]
    assert list(frame.columns[: len(required)]) == required
    assert list(frame.columns) == list(POSITION_COLUMNS)
    assert list(frame["symbol"]) == ["RELIANCE", "TCS"]  # sorted; the flat RELIANCE row is kept
    assert list(frame["product"]) == ["CNC", "MIS"]
    assert list(frame["quantity"]) == [0, 10]
    assert frame["quantity"].dtype == "int64"
    assert list(frame["realized_pnl"]) == [D(100), D(0)]
    assert list(frame["unrealized_pnl"]) == [D(0), D(10)]
    assert list(frame["pnl"]) == [D(100), D(9)]


def test_to_frame_of_an_empty_ledger_has_the_columns_and_no_rows():
    frame = Ledger(D(100_000)).to_frame()

    assert list(frame.columns) == list(POSITION_COLUMNS)
    assert len(frame) == 0


def test_square_off_orders_flatten_every_open_position():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", symbol="TCS", product=CNC))
    ledger.apply_fill(make_fill(SELL, 7, "100", symbol="INFY"))
    ledger.apply_fill(make_fill(BUY, 3, "100", symbol="SBIN"))
    ledger.apply_fill(make_fill(SELL, 3, "101", symbol="SBIN"))  # flat: nothing to do

    orders = ledger.square_off_orders()

    assert orders == [SquareOff("INFY", MIS, BUY, 7), SquareOff("TCS", CNC, SELL, 10)]
    assert orders[0] == ("INFY", MIS, BUY, 7)  # a plain tuple too
    assert ledger.square_off_orders("TCS") == [SquareOff("TCS", CNC, SELL, 10)]
    assert ledger.square_off_orders("SBIN") == []
    assert ledger.square_off_orders("UNKNOWN") == []


def test_square_off_orders_applied_leave_the_book_flat():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", product=CNC))
    ledger.apply_fill(make_fill(SELL, 4, "100", product=MIS))

    for symbol, product, side, quantity in ledger.square_off_orders():
        ledger.apply_fill(make_fill(side, quantity, "100", symbol=symbol, product=product))

    assert all(p.quantity == 0 for p in ledger.positions)
    assert list(ledger.open_positions()) == []


# -- restore -----------------------------------------------------------------------------------------------------


def test_restore_rebuilds_positions_cash_marks_and_seen_trade_ids():
    stored = [
        Position(
            "RELIANCE",
            CNC,
            quantity=10,
            average_price=D("100"),
            realized_pnl=D("5"),
            fees=D("1"),
            last_price=D("104"),
            bought_quantity=10,
        ),
        Position("TCS", MIS, quantity=0, realized_pnl=D("-3"), bought_quantity=1, sold_quantity=1),
    ]
    ledger = Ledger(D(0))

    ledger.restore(stored, D("50000"), trade_ids=["T-old"])

    assert ledger.cash == D("50000")
    assert ledger.net_quantity("RELIANCE") == 10
    assert ledger.unrealized_pnl() == D("40")
    assert ledger.realized_pnl() == D("2")
    assert ledger.last_price("RELIANCE") == D("104")
    assert ledger.position("RELIANCE", CNC) is not stored[0]  # copied, not shared
    replayed = ledger.apply_fill(make_fill(SELL, 10, "104", product=CNC, trade_id="T-old"))
    assert replayed.quantity == 10  # the replay of a booked trade is ignored
    new = ledger.apply_fill(make_fill(BUY, 1, "200", symbol="RELIANCE", product=MIS))
    assert new.last_price == D("104")  # the restored mark carries over to a new product


def test_restore_replaces_what_was_there():
    ledger = Ledger(D(100_000))
    ledger.apply_fill(make_fill(BUY, 10, "100", symbol="INFY", trade_id="T-x"))

    ledger.restore([], D(1))

    assert ledger.positions == ()
    assert ledger.net_quantity("INFY") == 0
    assert not ledger.has_trade("T-x")


def test_restore_refuses_another_accounts_or_duplicate_positions():
    ledger = Ledger(D(0), account="alpha")

    with pytest.raises(ConfigError, match="invalid account: 'beta'"):
        ledger.restore([Position("TCS", MIS, account="beta")], D(0))
    with pytest.raises(ConfigError, match="invalid positions"):
        ledger.restore([Position("TCS", MIS, account="alpha"), Position("TCS", MIS, account="alpha")], D(0))


# -- properties --------------------------------------------------------------------------------------------------

SYMBOLS = ("RELIANCE", "TCS")
prices = st.integers(min_value=1, max_value=100_000).map(lambda ticks: D(ticks) * D("0.05"))
fills = st.lists(
    st.builds(
        lambda side, quantity, price, symbol, product, paise: (side, quantity, price, symbol, product, D(paise) / 100),
        st.sampled_from(Side),
        st.integers(min_value=1, max_value=1_000),
        prices,
        st.sampled_from(SYMBOLS),
        st.sampled_from(Product),
        st.integers(min_value=0, max_value=5_000),
    ),
    max_size=40,
).map(
    lambda rows: [
        make_fill(s, q, p, symbol=sym, product=prod, fees=f, trade_id=f"P-{i}")
        for i, (s, q, p, sym, prod, f) in enumerate(rows)
    ]
)
marks = st.fixed_dictionaries({symbol: st.none() | prices for symbol in SYMBOLS})
INITIAL = D(1_000_000)


def _book(sequence: list[Fill]) -> Ledger:
    ledger = Ledger(INITIAL)
    for fill in sequence:
        ledger.apply_fill(fill)
    return ledger


@given(sequence=fills)
def test_net_quantity_is_the_signed_sum_of_fill_quantities(sequence):
    ledger = _book(sequence)

    for symbol in SYMBOLS:
        expected = sum(f.side.sign * f.quantity for f in sequence if f.symbol == symbol)
        assert ledger.net_quantity(symbol) == expected
    for position in ledger.positions:
        mine = [f for f in sequence if (f.symbol, f.product) == (position.symbol, position.product)]
        assert position.bought_quantity == sum(f.quantity for f in mine if f.side is BUY)
        assert position.sold_quantity == sum(f.quantity for f in mine if f.side is SELL)


@given(sequence=fills, mark=marks)
def test_equity_change_equals_realized_plus_unrealized_minus_fees(sequence, mark):
    # The conservation law: cash + sum(quantity x mark) - starting cash == realized + unrealized - fees.
    # Unmarked positions count at their average price on the left and with no unrealized P&L on the right.
    # The one inexactness is the average price's rounding to 8 places: at most 0.5e-8 per unit held after a fill
    # that adds to a position, so that is the tolerance.
    ledger = Ledger(INITIAL)
    tolerance = D(0)
    for fill in sequence:
        before = ledger.position(fill.symbol, fill.product)
        adding = before is not None and before.quantity * fill.side.sign > 0
        position = ledger.apply_fill(fill)
        if adding:
            tolerance += D("0.5E-8") * abs(position.quantity)
    for symbol, price in mark.items():
        if price is not None:
            ledger.mark(symbol, price)

    positions = ledger.positions
    left = ledger.cash + sum((p.market_value for p in positions), D(0)) - INITIAL
    right = sum((p.realized_pnl + p.unrealized_pnl - p.fees for p in positions), D(0))

    assert abs(left - right) <= tolerance
    assert left == ledger.equity() - INITIAL
    assert right == ledger.day_pnl()


events = st.lists(
    st.one_of(
        fills.map(lambda sequence: ("fills", sequence)),
        st.tuples(st.just("mark"), st.sampled_from(SYMBOLS), prices),
    ),
    max_size=12,
)


@given(steps=events)
def test_running_totals_match_a_recount_of_the_positions(steps):
    # The ledger keeps its totals as it goes; they must equal the sums over the positions at every step.
    ledger = Ledger(INITIAL)
    for number, step in enumerate(steps):
        if step[0] == "mark":
            ledger.mark(step[1], step[2])
        else:
            for fill in step[1]:
                ledger.apply_fill(dataclasses.replace(fill, trade_id=TradeId(f"{number}-{fill.trade_id}")))
        positions = ledger.positions
        assert ledger.realized_pnl() == sum((p.realized_pnl for p in positions), D(0))
        assert ledger.unrealized_pnl() == sum((p.unrealized_pnl for p in positions), D(0))
        assert ledger.fees() == sum((p.fees for p in positions), D(0))
        assert ledger.market_value() == sum((p.market_value for p in positions), D(0))
        assert ledger.gross_exposure() == sum((abs(p.market_value) for p in positions), D(0))
        assert ledger.equity() == ledger.cash + ledger.market_value()
        assert ledger.day_pnl() == ledger.realized_pnl() + ledger.unrealized_pnl() - ledger.fees()
        for symbol in SYMBOLS:
            assert ledger.net_quantity(symbol) == sum(p.quantity for p in positions if p.symbol == symbol)
        delivery = sum((abs(p.market_value) for p in positions if p.product is Product.CNC), D(0))
        assert ledger.margin_blocked(D(4)) == delivery + (ledger.gross_exposure() - delivery) / 4


@given(sequence=fills, data=st.data())
def test_net_quantity_cash_and_fees_do_not_depend_on_fill_order(sequence, data):
    shuffled = data.draw(st.permutations(sequence))

    ledger, other = _book(sequence), _book(shuffled)

    for symbol in SYMBOLS:
        assert ledger.net_quantity(symbol) == other.net_quantity(symbol)
    assert ledger.cash == other.cash
    assert ledger.fees() == other.fees()


@given(sequence=fills, data=st.data())
def test_replayed_fills_are_ignored(sequence, data):
    replays = data.draw(st.lists(st.sampled_from(sequence), max_size=20)) if sequence else []
    with_replays = list(sequence)
    for replay in replays:
        # A replay arrives anywhere after the original fill.
        first = with_replays.index(replay)
        with_replays.insert(data.draw(st.integers(min_value=first + 1, max_value=len(with_replays))), replay)

    ledger, replayed = _book(sequence), _book(with_replays)

    assert replayed.cash == ledger.cash
    assert replayed.positions == ledger.positions
