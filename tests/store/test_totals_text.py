"""The summary's numbers as text: the integer paths write what Decimal writes."""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import given
from hypothesis import strategies as st

from hstgw.billing.money import micro_text, money
from hstgw.store.totals import quantity_text

# Within Decimal's default 28 digits (the definition's own reach): sums of millionths
# far past any month's.
BIG = 10**26


def decimal_text(micro: int, exp: int) -> str:
    # the definition: the sum in millionths, at the smallest exponent of its terms
    return str(Decimal(micro).scaleb(-6).quantize(Decimal(1).scaleb(exp)))


@given(st.integers(-BIG, BIG), st.integers(-6, 0))
def test_quantity_text_is_decimals(micro: int, exp: int) -> None:
    # (millionths that the exponent cannot hold exactly, and negatives, go to Decimal)
    assert quantity_text(micro, exp) == decimal_text(micro, exp)


@given(st.integers(0, BIG // 10**6), st.integers(-6, 0))
def test_quantity_text_of_sums_at_their_exponent(units: int, exp: int) -> None:
    micro = units * 10 ** (6 + exp)  # what a sum of terms of that exponent is
    assert quantity_text(micro, exp) == decimal_text(micro, exp)


def test_quantity_text_edges() -> None:
    assert quantity_text(0, 0) == "0"
    assert quantity_text(0, -6) == "0.000000"
    assert quantity_text(1, -6) == "0.000001"
    assert quantity_text(1_500_000, -1) == "1.5"
    assert quantity_text(12_000_000, 0) == "12"


@given(st.integers(-BIG, BIG))
def test_money_is_micro_text(micro: int) -> None:
    text = micro_text(micro)
    assert orjson.dumps(money(micro)) == text.encode()
    assert Decimal(text) == Decimal(micro).scaleb(-6)
