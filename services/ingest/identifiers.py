"""One spelling per person identifier, before it is pseudonymised (rule 13).

A scanner reads whatever the person shows it: a phone number, written in any of the ways people
write one, or the number of an identity document. One person must be one pseudonym, or their
contacts split in two and F1s are missed, so ingest brings every identifier to one spelling
first. Pure: no I/O, and the same function for scans and cases.

- Compatibility characters are folded (NFKC: the full-width digits of some phone keyboards are
  digits) and all whitespace is removed (scanners pad and space codes differently).
- A **phone number** becomes E.164 (``+84912345678``). An identifier is read as one when it is
  written as one (digits, the separators ``- . ( )`` and at most a leading ``+``), names its
  country (``+84…``, ``0084…``, ``84…``) or starts with the trunk prefix of the default region
  (``0…`` in Viet Nam), and has a length a mobile or fixed-line number of that country can have.
  Lengths rather than the library's list of assigned number blocks, so that a number of a block
  assigned after the pinned ``phonenumbers`` release is read the same in every spelling, and an
  upgrade of the library does not move a person to another pseudonym.
- A national number written without the trunk prefix (``912345678``) is kept as written: nine
  digits are also an identity card number (CMND), and reading those as phone numbers would make
  two people one.
- An **identity document number** of one or two letters then digits (a passport's ``C1234567``)
  is upper-cased: documents are issued in capitals and typed in any case. Citizen ids (CCCD,
  12 digits; CMND, 9) are digits and stay as they are.
- **Anything else** (an app's personal code) is kept as written, case included: ingest does not
  know its format, and folding the case of a case-sensitive code would merge people.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from phonenumbers import CountryCodeSource, NumberParseException, PhoneNumberType

DEFAULT_PHONE_REGION = "VN"

_PHONE_SHAPE = re.compile(r"\+?[0-9().\-]+")
_SEPARATORS = re.compile(r"[().\-]")
_DOCUMENT_NUMBER = re.compile(r"[A-Za-z]{1,2}[0-9]{6,12}")
_PERSON_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)
# The longest E.164 number has 15 digits; a trunk or an international prefix adds a few.
_MAX_PHONE_DIGITS = 18

NORMALISER_CACHE_SIZE = 65_536
"""Identifiers remembered by :func:`person_id_normaliser`: people scan in and out, often at
several venues a day, and parsing a number costs ~70 µs."""


def normalise_person_id(raw: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """The one spelling of the identifier ``raw`` that is pseudonymised.

    Examples:
        >>> {normalise_person_id(s) for s in
        ...  ["+84912345678", "0912345678", "84 912 345 678", "091-234-5678", "0084912345678"]}
        {'+84912345678'}
        >>> normalise_person_id("+1 (650) 253-0000")
        '+16502530000'
        >>> normalise_person_id(" 001099012345 ")  # a citizen id (CCCD)
        '001099012345'
        >>> normalise_person_id("912345678")  # no trunk prefix: could be an identity card
        '912345678'
        >>> normalise_person_id("c1234567"), normalise_person_id("pc-Covid:Ab12")
        ('C1234567', 'pc-Covid:Ab12')
        >>> normalise_person_id("０９１２３４５６７８")
        '+84912345678'
    """
    # Folding can make whitespace ("´" is a space and a combining accent), and removing it can
    # leave a sequence that folds further; once more after that, and the result is stable.
    text = unicodedata.normalize("NFKC", "".join(unicodedata.normalize("NFKC", raw).split()))
    phone = _as_phone_number(text, region)
    if phone is not None:
        return phone
    if _DOCUMENT_NUMBER.fullmatch(text):
        return text.upper()
    return text


def _as_phone_number(text: str, region: str) -> str | None:
    if not _PHONE_SHAPE.fullmatch(text) or "+" in text[1:]:
        return None
    digits = _SEPARATORS.sub("", text).removeprefix("+")
    if not digits or len(digits) > _MAX_PHONE_DIGITS:
        return None
    try:
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except NumberParseException:
        return None
    if number.country_code_source == CountryCodeSource.FROM_DEFAULT_COUNTRY:
        trunk = phonenumbers.ndd_prefix_for_region(region, strip_non_digits=True)
        if trunk and not digits.startswith(trunk):
            return None
    if not any(phonenumbers.is_possible_number_for_type(number, t) for t in _PERSON_TYPES):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # A national part that starts with a trunk prefix after the country code ("+43 0…") loses
    # it in parsing; where the result would lose another digit when read again, the spelling
    # is not one number's: keep it as written rather than give one identifier two readings.
    if e164 != text and _as_phone_number(e164, region) != e164:
        return None
    return e164


def person_id_normaliser(region: str = DEFAULT_PHONE_REGION) -> Callable[[str], str]:
    """:func:`normalise_person_id` for one default region, remembering recent identifiers.

    Example:
        >>> normalise = person_id_normaliser("VN")
        >>> normalise("091-234-5678") == normalise("+84 912 345 678") == "+84912345678"
        True
    """
    if region not in phonenumbers.SUPPORTED_REGIONS:  # parse() would refuse every number
        raise ValueError(f"{region!r} is not a region with a known numbering plan (e.g. VN)")

    @lru_cache(maxsize=NORMALISER_CACHE_SIZE)
    def normalise(raw: str) -> str:
        return normalise_person_id(raw, region)

    return normalise
