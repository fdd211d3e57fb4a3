"""The controlled vocabularies behind every form, import and filter."""

from __future__ import annotations

import pytest

from partnermatch import reference
from partnermatch.errors import ValidationError


def test_the_21_apec_economies_carry_apecs_names():
    apec = [economy for economy in reference.economies() if economy.apec]

    assert len(apec) == 21
    names = {economy.code: economy.name for economy in apec}
    assert names["TW"] == "Chinese Taipei"
    assert names["HK"] == "Hong Kong, China"
    assert names["VN"] == "Viet Nam"
    assert names["CN"] == "People's Republic of China"
    assert names["KR"] == "Republic of Korea"


def test_non_apec_economies_are_allowed_as_guests():
    germany = reference.economy("DE")

    assert germany is not None and not germany.apec
    assert reference.normalise_economy("germany") == "DE"


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("VN", "VN"),
        ("vn", "VN"),
        ("Viet Nam", "VN"),
        ("vietnam", "VN"),
        ("  chinese   taipei ", "TW"),
        ("Taiwan", "TW"),
        ("Hong Kong, China", "HK"),
        ("The Philippines", "PH"),
        ("Republic of Korea", "KR"),
        ("USA", "US"),
    ],
)
def test_economy_accepts_a_code_or_a_name_in_any_case(typed, code):
    assert reference.normalise_economy(typed) == code


@pytest.mark.parametrize("typed", ["Atlantis", "", "XX", "   "])
def test_unknown_economy_is_refused_with_a_message(typed):
    with pytest.raises(ValidationError) as raised:
        reference.normalise_economy(typed)

    assert raised.value.field == "economy"
    assert "economy" in raised.value.message.lower()


def test_sectors_include_the_forums_four_and_others():
    codes = set(reference.SECTOR_CODES)

    assert {"metal", "green-vehicles", "ict-its", "cultural-creative"} <= codes
    assert {
        "machinery",
        "electronics",
        "energy",
        "biotech-health",
        "agri-food",
        "textiles",
        "other",
    } <= codes
    assert all(term.label and term.description for term in reference.SECTORS)


def test_value_chain_is_an_ordered_chain_plus_support_functions():
    assert reference.CHAIN_POSITIONS == (
        "materials",
        "processing",
        "components",
        "integration",
        "distribution",
        "after-sales",
    )
    assert set(reference.VALUE_CHAIN_CODES) - set(reference.CHAIN_POSITIONS) == {
        "r-and-d",
        "design",
        "testing",
        "policy-funding",
    }


def test_codes_are_returned_in_vocabulary_order_without_duplicates():
    assert reference.check_value_chain(["testing", "materials", "Materials"]) == [
        "materials",
        "testing",
    ]


def test_unknown_sector_names_the_field_and_the_code():
    with pytest.raises(ValidationError) as raised:
        reference.check_sectors(["metal", "space-mining"])

    assert raised.value.field == "sectors"
    assert "space-mining" in raised.value.message
