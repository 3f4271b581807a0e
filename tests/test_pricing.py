"""domain.pricing.quote and domain.money.format_usd against the demo business file.

Every expected number is worked out by hand from config/demo-business.yaml:
adult $60, kid $30, food minimum $600 (on food + upgrades, before travel), deposit $100,
upgrades per guest: filet $5, lobster $15, extra protein $10, yakisoba $5;
zones by ZIP prefix: A 958 = $0, B 956/957 = $50, C 940..951 = $100.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.business import Business, PriceBook
from domain.errors import DomainError, OutsideServiceArea
from domain.money import format_usd
from domain.pricing import Party, Quote, quote
from domain.zones import zone_for_zip
from hibachi.business_file import load_business

BUSINESS: Business = load_business()


def quote_for(
    zip_code: str,
    adults: int,
    kids: int = 0,
    upgrades: dict[str, int] | None = None,
    price_book: PriceBook | None = None,
) -> Quote:
    zone = zone_for_zip(BUSINESS, zip_code)
    return quote(price_book or BUSINESS.pricing, zone, Party(adults, kids), upgrades or {})


# --- the demo price book is what the tests below assume ---------------------------------------


def test_demo_price_book_numbers() -> None:
    pricing = BUSINESS.pricing
    assert (pricing.adult_cents, pricing.kid_cents) == (6000, 3000)
    assert (pricing.minimum_cents, pricing.deposit_cents) == (60000, 10000)
    assert pricing.upgrades == {
        "filet_mignon": 500,
        "lobster_tail": 1500,
        "extra_protein": 1000,
        "yakisoba_noodles": 500,
    }


# --- zones by ZIP prefix -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zip_code", "zone_id", "fee"),
    [
        ("95816", "A", 0),
        ("95816-1234", "A", 0),
        ("95630", "B", 5000),
        ("95762", "B", 5000),
        ("94110", "C", 10000),
        ("95110", "C", 10000),
    ],
)
def test_zone_for_zip(zip_code: str, zone_id: str, fee: int) -> None:
    zone = zone_for_zip(BUSINESS, zip_code)
    assert zone.id == zone_id
    assert zone.travel_fee_cents == fee


def test_zip_outside_the_service_area_is_refused() -> None:
    with pytest.raises(OutsideServiceArea) as info:
        zone_for_zip(BUSINESS, "90210")
    assert info.value.field == "zip"
    assert "90210" in info.value.message


@pytest.mark.parametrize("bad", ["9581", "958161", "95816-12", "abcde", "", "９５８１６"])  # fullwidth: not a ZIP
def test_malformed_zip_is_refused(bad: str) -> None:
    with pytest.raises(DomainError) as info:
        zone_for_zip(BUSINESS, bad)
    assert not isinstance(info.value, OutsideServiceArea)
    assert info.value.field == "zip"


# --- totals, table driven ----------------------------------------------------------------------

# (id, zip, adults, kids, upgrades, food, upgrades_cents, minimum_applied, travel, total)
TOTALS: list[tuple[str, str, int, int, dict[str, int], int, int, bool, int, int]] = [
    # 12*6000 + 3*3000 = 81000; 4 lobster * 1500 = 6000; zone A free -> 87000
    ("brief example", "95816", 12, 3, {"lobster_tail": 4}, 81000, 6000, False, 0, 87000),
    # 5*6000 = 30000 < 60000 minimum -> 60000
    ("small party pays the minimum", "95816", 5, 0, {}, 30000, 0, True, 0, 60000),
    # exactly at the minimum: 10*6000 = 60000, minimum not "applied"
    ("exactly the minimum", "95816", 10, 0, {}, 60000, 0, False, 0, 60000),
    # 9*6000 + 1*3000 = 57000 + 2*500 = 58000 < 60000 -> 60000 (upgrades count towards the minimum)
    ("upgrades below the minimum", "95816", 9, 1, {"filet_mignon": 2}, 57000, 1000, True, 0, 60000),
    # 57000 + 4*1500 = 63000 >= 60000: upgrades lift the party over the minimum
    ("upgrades lift over the minimum", "95816", 9, 1, {"lobster_tail": 4}, 57000, 6000, False, 0, 63000),
    # travel fee is added after the minimum: max(30000, 60000) + 5000 = 65000 (not max(35000, 60000))
    ("minimum then zone B fee", "95630", 5, 0, {}, 30000, 0, True, 5000, 65000),
    # max(30000, 60000) + 10000 = 70000 (not max(40000, 60000) = 60000)
    ("minimum then zone C fee", "94110", 5, 0, {}, 30000, 0, True, 10000, 70000),
    # 12*6000 + 3*3000 + 4*1500 = 87000 + 10000 = 97000
    ("zone C above the minimum", "94110", 12, 3, {"lobster_tail": 4}, 81000, 6000, False, 10000, 97000),
    # 15*6000 = 90000 + 5000 (zone B, prefix 957)
    ("zone B via 957", "95762", 15, 0, {}, 90000, 0, False, 5000, 95000),
    # kids only: 20 * 3000 = 60000, exactly the minimum
    ("kids price", "95816", 0, 20, {}, 60000, 0, False, 0, 60000),
    # 2*6000 + 22*3000 = 12000 + 66000 = 78000
    ("adults and kids", "95816", 2, 22, {}, 78000, 0, False, 0, 78000),
    # 10 adults with three upgrades each: 60000 + 10*(1000 + 500 + 500) = 80000
    (
        "several upgrades per guest",
        "95816",
        10,
        0,
        {"extra_protein": 10, "filet_mignon": 10, "yakisoba_noodles": 10},
        60000,
        20000,
        False,
        0,
        80000,
    ),
    # kids can take upgrades too: 4 adults + 6 kids = 24000 + 18000 = 42000; 10 filet = 5000 -> 60000
    ("upgrades count all guests", "95816", 4, 6, {"filet_mignon": 10}, 42000, 5000, True, 0, 60000),
]


@pytest.mark.parametrize(
    ("zip_code", "adults", "kids", "upgrades", "food", "extras", "minimum_applied", "travel", "total"),
    [case[1:] for case in TOTALS],
    ids=[case[0] for case in TOTALS],
)
def test_quote_totals(
    zip_code: str,
    adults: int,
    kids: int,
    upgrades: dict[str, int],
    food: int,
    extras: int,
    minimum_applied: bool,
    travel: int,
    total: int,
) -> None:
    result = quote_for(zip_code, adults, kids, upgrades)
    assert result.food_cents == food
    assert result.upgrades_cents == extras
    assert result.minimum_cents == 60000
    assert result.minimum_applied is minimum_applied
    assert result.travel_fee_cents == travel
    assert result.total_due_cents == total
    assert result.deposit_due_cents == 10000


def test_upgrade_lines_sorted_with_unit_prices_and_zero_counts_dropped() -> None:
    result = quote_for("95816", 10, 0, {"yakisoba_noodles": 3, "filet_mignon": 0, "extra_protein": 2})
    assert result.upgrade_lines == (("extra_protein", 2, 1000), ("yakisoba_noodles", 3, 500))
    assert result.upgrades_cents == 2 * 1000 + 3 * 500


def test_upgrade_count_equal_to_guest_count_is_allowed() -> None:
    # 3 adults + 2 kids = 5 guests; 5 lobster tails is the most allowed
    result = quote_for("95816", 3, 2, {"lobster_tail": 5})
    assert result.upgrade_lines == (("lobster_tail", 5, 1500),)
    assert result.upgrades_cents == 7500


# --- deposit -----------------------------------------------------------------------------------


def test_deposit_is_the_fixed_amount_when_the_total_is_larger() -> None:
    assert quote_for("94110", 30, 0).deposit_due_cents == 10000


def test_deposit_never_exceeds_the_total() -> None:
    # 12 adults + 3 kids + 4 lobster = 87000 in zone A; a $2,000 deposit is capped to the total
    big_deposit = replace(BUSINESS.pricing, deposit_cents=200000)
    result = quote_for("95816", 12, 3, {"lobster_tail": 4}, price_book=big_deposit)
    assert result.total_due_cents == 87000
    assert result.deposit_due_cents == 87000


def test_deposit_capped_by_a_total_including_travel() -> None:
    # no minimum: 1 kid = 3000 + zone C 10000 = 13000 < 50000 deposit
    book = PriceBook(adult_cents=6000, kid_cents=3000, minimum_cents=0, deposit_cents=50000, upgrades={})
    result = quote_for("94110", 0, 1, price_book=book)
    assert result.minimum_applied is False
    assert result.total_due_cents == 13000
    assert result.deposit_due_cents == 13000


def test_deposit_equal_to_total_is_kept() -> None:
    book = replace(BUSINESS.pricing, deposit_cents=60000)
    result = quote_for("95816", 1, 0, price_book=book)
    assert result.total_due_cents == 60000
    assert result.deposit_due_cents == 60000


# --- refusals ----------------------------------------------------------------------------------


def test_unknown_upgrade_code_is_refused_naming_it() -> None:
    with pytest.raises(DomainError) as info:
        quote_for("95816", 10, 0, {"caviar": 1})
    assert info.value.field == "upgrades.caviar"
    assert "caviar" in info.value.message
    assert "lobster_tail" in info.value.message  # lists what is offered


def test_upgrade_count_above_guest_count_is_refused() -> None:
    with pytest.raises(DomainError) as info:
        quote_for("95816", 3, 1, {"lobster_tail": 5})
    assert info.value.field == "upgrades.lobster_tail"


def test_negative_upgrade_count_is_refused() -> None:
    with pytest.raises(DomainError) as info:
        quote_for("95816", 10, 0, {"filet_mignon": -1})
    assert info.value.field == "upgrades.filet_mignon"


def test_boolean_upgrade_count_is_refused() -> None:
    with pytest.raises(DomainError) as info:
        quote_for("95816", 10, 0, {"filet_mignon": True})
    assert info.value.field == "upgrades.filet_mignon"


@pytest.mark.parametrize(
    ("adults", "kids", "field"),
    [(-1, 5, "party.adults"), (5, -1, "party.kids"), (-3, -3, "party.adults")],
)
def test_negative_party_counts_are_refused(adults: int, kids: int, field: str) -> None:
    with pytest.raises(DomainError) as info:
        quote_for("95816", adults, kids)
    assert info.value.field == field


def test_negative_kids_cannot_offset_upgrade_limit() -> None:
    # 5 adults - 2 kids would be "3 guests"; refused as negative before upgrades are checked
    with pytest.raises(DomainError) as info:
        quote_for("95816", 5, -2, {"filet_mignon": 3})
    assert info.value.field == "party.kids"


# --- format_usd --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (180000, "$1,800.00"),
        (5, "$0.05"),
        (-1200, "-$12.00"),
        (123456789, "$1,234,567.89"),
        (0, "$0.00"),
        (99, "$0.99"),
        (100, "$1.00"),
        (-5, "-$0.05"),
        (87000, "$870.00"),
    ],
)
def test_format_usd(cents: int, text: str) -> None:
    assert format_usd(cents) == text
