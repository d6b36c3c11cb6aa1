"""The value rules every command shares: money, effective dates and texts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValueError
from domain.values import (
    MAX_AMOUNT,
    MAX_DECIMALS,
    MAX_NUMBER_TEXT,
    MAX_TEXT,
    decimal_number,
    effective_date,
    money,
    quantity,
    text,
)

# Money -------------------------------------------------------------------------------------


def test_money_accepts_a_decimal_string_of_euros() -> None:
    amount = money("35000000.00")

    assert amount == Decimal("35000000.00")


def test_money_accepts_an_integer_number_of_euros() -> None:
    amount = money(1)

    assert amount == Decimal("1.00")


def test_money_accepts_one_cent() -> None:
    amount = money(Decimal("0.01"))

    assert amount == Decimal("0.01")


def test_money_drops_trailing_zeros_beyond_the_cents() -> None:
    amount = money("1.500")

    assert amount == Decimal("1.50")
    assert amount.as_tuple().exponent == -2


def test_money_accepts_exactly_one_thousand_billion() -> None:
    amount = money(Decimal("1e12"))

    assert amount == Decimal("1000000000000.00")


def test_money_accepts_one_thousand_billion_written_as_an_integer() -> None:
    amount = money(10**12)

    assert amount == MAX_AMOUNT


def test_money_always_has_exactly_two_decimals() -> None:
    amount = money(Decimal("5E+2"))

    assert str(amount) == "500.00"


def test_money_ignores_surrounding_spaces_in_a_string() -> None:
    amount = money("  12.30 ")

    assert amount == Decimal("12.30")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1.234", id="three-decimals"),
        pytest.param(Decimal("0.001"), id="a-tenth-of-a-cent"),
        pytest.param(0, id="zero"),
        pytest.param("0.00", id="zero-string"),
        pytest.param(Decimal("-0.00"), id="negative-zero"),
        pytest.param(-1, id="negative"),
        pytest.param("-0.01", id="negative-cent"),
        pytest.param("1000000000000.01", id="above-1e12"),
        pytest.param(10**12 + 1, id="above-1e12-integer"),
        pytest.param(Decimal("1e30"), id="far-above-1e12"),
        pytest.param("NaN", id="nan"),
        pytest.param(Decimal("sNaN"), id="signalling-nan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param(Decimal("-Infinity"), id="minus-infinity"),
        pytest.param("abc", id="not-a-number"),
        pytest.param("1_000", id="digit-separator"),
        pytest.param("1e3", id="exponent"),
        pytest.param("1 000", id="inner-space"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(1.5, id="float"),
        pytest.param(1e12, id="float-1e12"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="none"),
        pytest.param([1], id="list"),
    ],
)
def test_money_refuses_what_is_not_a_valid_amount(value: object) -> None:
    with pytest.raises(InvalidValueError) as refused:
        money(value)

    assert refused.value.field == "amount"


def test_money_names_the_field_it_refuses() -> None:
    with pytest.raises(InvalidValueError) as refused:
        money("1.234", "principal")

    assert refused.value.field == "principal"
    assert str(refused.value).startswith("principal: ")


@given(st.decimals(min_value=Decimal("0.01"), max_value=MAX_AMOUNT, places=2))
def test_any_amount_with_cents_up_to_1e12_round_trips_unchanged(value: Decimal) -> None:
    amount = money(value)

    assert amount == value
    assert money(str(value)) == value
    assert amount.as_tuple().exponent == -2


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from([0, 1, 2]))
def test_any_amount_with_at_most_two_decimals_round_trips_unchanged(
    whole: int, places: int
) -> None:
    value = Decimal(whole).scaleb(-places)

    amount = money(value)

    assert amount == value


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=9))
def test_any_amount_with_a_third_decimal_is_refused(cents: int, thousandth: int) -> None:
    value = Decimal(cents).scaleb(-2) + Decimal(thousandth).scaleb(-3)

    with pytest.raises(InvalidValueError):
        money(value)


# Effective dates ---------------------------------------------------------------------------


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31)])
def test_an_effective_date_far_outside_the_ledger_window_is_refused(day: date) -> None:
    with pytest.raises(InvalidValueError) as refused:
        effective_date(day, "granted_on")

    assert refused.value.field == "granted_on"


@pytest.mark.parametrize("day", [date(1950, 1, 1), date(2024, 1, 15), date(2100, 12, 31)])
def test_an_effective_date_inside_the_ledger_window_is_kept(day: date) -> None:
    kept = effective_date(day, "granted_on")

    assert kept == day


# Texts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", "\t\n  "])
def test_an_empty_or_blank_text_is_refused(value: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        text(value, "name")

    assert refused.value.field == "name"


def test_a_text_over_the_maximum_length_is_refused() -> None:
    with pytest.raises(InvalidValueError) as refused:
        text("x" * (MAX_TEXT + 1), "reason")

    assert refused.value.field == "reason"


def test_a_text_over_a_custom_maximum_length_is_refused() -> None:
    with pytest.raises(InvalidValueError) as refused:
        text("x" * 65, "reference", max_length=64)

    assert refused.value.field == "reference"


def test_a_text_at_the_maximum_length_is_kept() -> None:
    kept = text("x" * MAX_TEXT, "reason")

    assert len(kept) == MAX_TEXT


def test_a_text_is_stripped_of_surrounding_spaces() -> None:
    kept = text("  Tramway de Wattrelos \n", "name")

    assert kept == "Tramway de Wattrelos"


def test_a_text_with_a_control_character_is_refused() -> None:
    with pytest.raises(InvalidValueError) as refused:
        text("Tram\x00way", "name")

    assert refused.value.field == "name"


# Numbers are plain ASCII decimal text, bounded ----------------------------------------------

LENIENT_NUMBERS = [
    pytest.param("１２", id="full-width-digits"),
    pytest.param("١٢", id="arabic-indic-digits"),
    pytest.param("۱۲", id="extended-arabic-indic-digits"),
    pytest.param("१२", id="devanagari-digits"),
    pytest.param("1_0", id="underscore"),
    pytest.param("1e-999999999", id="tiny-exponent"),
    pytest.param("1E2", id="exponent"),
    pytest.param("12.", id="point-without-decimals"),
    pytest.param(".5", id="decimals-without-units"),
    pytest.param("12\u00a0", id="no-break-space"),
    pytest.param("0." + "0" * 4999 + "1", id="5000-decimals"),
    pytest.param("1" * 41, id="41-digits"),
    pytest.param(Decimal("1e-999999999"), id="decimal-tiny-exponent"),
    pytest.param(Decimal("0." + "0" * 4999 + "1"), id="decimal-5000-decimals"),
]


@pytest.mark.parametrize("value", LENIENT_NUMBERS)
def test_a_rate_not_written_as_plain_bounded_ascii_decimals_is_refused(value: object) -> None:
    with pytest.raises(InvalidValueError) as refused:
        quantity(value, "rate")

    assert refused.value.field == "rate"


@pytest.mark.parametrize("value", LENIENT_NUMBERS)
def test_an_amount_not_written_as_plain_bounded_ascii_decimals_is_refused(value: object) -> None:
    with pytest.raises(InvalidValueError) as refused:
        money(value, "principal")

    assert refused.value.field == "principal"


def test_an_amount_in_another_script_is_refused_saying_what_is_expected() -> None:
    with pytest.raises(InvalidValueError) as refused:
        money("１２")

    assert "ASCII digits" in refused.value.detail


def test_a_rate_with_too_many_decimals_is_refused_saying_the_limit() -> None:
    with pytest.raises(InvalidValueError) as refused:
        quantity("0." + "0" * 30 + "1", "rate")

    assert f"too many decimals: at most {MAX_DECIMALS}" in refused.value.detail


def test_a_rate_with_5000_decimals_is_refused_before_it_is_read() -> None:
    with pytest.raises(InvalidValueError) as refused:
        quantity("0." + "0" * 4999 + "1", "rate")

    assert f"at most {MAX_NUMBER_TEXT} characters" in refused.value.detail


def test_a_negative_amount_is_still_refused_as_not_positive() -> None:
    with pytest.raises(InvalidValueError) as refused:
        money("-5")

    assert refused.value.detail == "amount: must be greater than 0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2.35", Decimal("2.35")), ("+2.35", Decimal("2.35")), (" 12 ", Decimal(12)), (7, Decimal(7))],
)
def test_a_rate_in_plain_decimals_is_read_exactly(value: object, expected: Decimal) -> None:
    number = quantity(value, "rate")

    assert number == expected


def test_a_number_with_as_many_decimals_as_allowed_is_kept() -> None:
    value = "0." + "0" * (MAX_DECIMALS - 1) + "1"

    number = decimal_number(value, "value")

    assert number == Decimal(value)


# Texts show what they say, on one line ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("\u200b", id="zero-width-space"),
        pytest.param(" \u200b\u200c\u200d ", id="zero-width-joiners"),
        pytest.param("\ufeff", id="byte-order-mark"),
        pytest.param("\u2060\u00a0\u3000", id="word-joiner-and-wide-spaces"),
        pytest.param("\u3164", id="hangul-filler"),
        pytest.param("\u2800", id="braille-blank"),
    ],
)
def test_a_text_of_only_invisible_characters_is_refused(value: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        text(value, "name")

    assert refused.value.field == "name"
    assert "empty" in refused.value.detail


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Tram\x7fway", id="delete"),
        pytest.param("Tram\x1bway", id="escape"),
        pytest.param("Tram\x85way", id="c1-next-line"),
        pytest.param("Tram\x9bway", id="c1-control-sequence"),
        pytest.param("Tram\nway", id="inner-line-feed"),
        pytest.param("Tram\tway", id="inner-tab"),
        pytest.param("Tram\rway", id="inner-carriage-return"),
        pytest.param("Tramway\x0b", id="trailing-vertical-tab"),
        pytest.param("Tram\u2028way", id="line-separator"),
        pytest.param("Tramway\u2029", id="trailing-paragraph-separator"),
        pytest.param("Tram\u202eyaw", id="right-to-left-override"),
        pytest.param("\u202aTramway", id="left-to-right-embedding"),
        pytest.param("Tram\u202cway", id="pop-directional-formatting"),
        pytest.param("Tram\u2066way\u2069", id="isolates"),
        pytest.param("Tram\ud800way", id="lone-surrogate"),
    ],
)
def test_a_text_holding_a_control_separator_or_bidi_character_is_refused(value: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        text(value, "reason")

    assert refused.value.field == "reason"


@pytest.mark.parametrize(
    "value",
    [
        "Médiathèque de Wattrelos",
        "Réseau de chaleur — tranche 2",
        "مكتبة وطرلو",
        "Pôle d'échanges (Lens)",
        "Zero\u200bwidth inside",
    ],
)
def test_a_visible_one_line_text_in_any_script_is_kept(value: str) -> None:
    kept = text(f" {value}\n", "name")

    assert kept == value
