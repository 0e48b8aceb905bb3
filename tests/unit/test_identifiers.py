"""Rule 13: one spelling per person identifier before the pseudonym, whatever the scanner wrote."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.core.config import Settings
from services.ingest.identifiers import normalise_person_id, person_id_normaliser

# Spellings of one Vietnamese mobile number seen on scanners and typed into case reports.
ONE_MOBILE = [
    "+84912345678",
    "0912345678",
    "84 912 345 678",
    "091-234-5678",
    "0084 91 234 56 78",
    "(091) 234.5678",
    "+84 (0) 912 345 678",
    " +84912345678\t",
    "０９１２３４５６７８",  # full-width digits of a phone keyboard
]


@pytest.mark.parametrize("spelling", ONE_MOBILE)
def test_every_spelling_of_a_mobile_number_is_its_e164(spelling: str) -> None:
    assert normalise_person_id(spelling) == "+84912345678"


def test_a_fixed_line_and_a_foreign_number_are_e164_too() -> None:
    assert normalise_person_id("024 3825 1234") == normalise_person_id("+842438251234")
    assert normalise_person_id("+842438251234") == "+842438251234"
    assert normalise_person_id("+1 650-253-0000") == "+16502530000"
    assert normalise_person_id("+65 6123 4567") == "+6561234567"


@pytest.mark.parametrize(
    "document",
    [
        "001099012345",  # CCCD: province 001, 12 digits
        "079123456789",  # CCCD of Hồ Chí Minh City: 0 and 11 digits is no phone number
        "084123456789",  # CCCD of Trà Vinh: starts like a number with its country code
        "012345678",  # CMND of Hà Nội: a trunk 0, but 8 digits are no Vietnamese number
        "381234567",  # CMND, and a valid mobile number without its trunk prefix
        "912345678",
    ],
)
def test_citizen_ids_are_kept_as_they_are(document: str) -> None:
    assert normalise_person_id(document) == document
    assert normalise_person_id(f" {document} ") == document


def test_document_numbers_are_upper_cased_other_codes_keep_their_case() -> None:
    assert normalise_person_id("c1234567") == normalise_person_id("C1234567") == "C1234567"
    assert normalise_person_id("pc:Ab12cD") == "pc:Ab12cD"
    assert normalise_person_id("pc:ab12cd") != normalise_person_id("pc:AB12CD")


def test_only_phone_shaped_text_is_read_as_a_phone_number() -> None:
    assert normalise_person_id("tel:0912345678") == "tel:0912345678"
    assert normalise_person_id("0912345678 ext 2") == "0912345678ext2"
    assert normalise_person_id("09+12345678") == "09+12345678"
    assert normalise_person_id("0" * 40) == "0" * 40


def test_the_default_region_decides_numbers_written_without_their_country() -> None:
    assert person_id_normaliser("VN")("0912345678") == "+84912345678"
    assert person_id_normaliser("GB")("07400 123456") == "+447400123456"
    assert person_id_normaliser("GB")("0912345678") != "+84912345678"
    assert person_id_normaliser("GB")("+84912345678") == "+84912345678"


def test_the_region_is_a_setting_refused_when_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().phone_region == "VN"
    monkeypatch.setenv("TRUYVET_PHONE_REGION", "GB")
    assert Settings().phone_region == "GB"
    monkeypatch.setenv("TRUYVET_PHONE_REGION", "XX")
    with pytest.raises(ValueError, match="numbering plan"):
        Settings()
    with pytest.raises(ValueError, match="numbering plan"):
        person_id_normaliser("XX")


_IDENTIFIERS = st.one_of(
    st.sampled_from([*ONE_MOBILE, "001099012345", "c1234567", "pc:Ab12cD"]),
    st.from_regex(r"\+?[0-9 ().\-]{3,20}", fullmatch=True),
    st.text(min_size=3, max_size=40).filter(lambda s: "\x00" not in s),
)


@given(_IDENTIFIERS)
@example("e\u00b4")  # folds to "e", a space and a combining accent
@example("+43000001")  # Austria's trunk 0 after the country code, read again and again
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = normalise_person_id(raw)
    assert normalise_person_id(once) == once


@given(_IDENTIFIERS, st.lists(st.sampled_from([" ", "\t", "\u00a0"]), min_size=1, max_size=3))
def test_whitespace_around_or_inside_changes_nothing(raw: str, spaces: list[str]) -> None:
    padded = spaces[0] + raw[:2] + "".join(spaces[1:]) + raw[2:] + spaces[0]
    assert normalise_person_id(padded) == normalise_person_id(raw)
