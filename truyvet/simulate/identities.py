"""What the city's people, venues and scanner events are called — realistic and deterministic.

Person ids look like what a Vietnamese check-in scanner reads: a mobile number (``09xxxxxxxx``,
``03xxxxxxxx``…) or a 12-digit citizen id (CCCD: province, century and gender, birth year,
serial). Each is an affine permutation of the person's index, so ids are unique without a set of
the ids already given out, whatever the population.

Examples:
    >>> people = PersonIds("7:sim7")
    >>> people.person_id(0) == PersonIds("7:sim7").person_id(0)
    True
    >>> len({people.person_id(i) for i in range(10_000)})
    10000
"""

from __future__ import annotations

import hashlib
import math
import random

# Mobile prefixes of the Vietnamese networks (Viettel, Vinaphone, Mobifone, Vietnamobile…).
MOBILE_PREFIXES = (
    "090", "091", "093", "094", "096", "097", "098", "099",
    "032", "033", "034", "035", "036", "037", "038", "039",
    "070", "076", "077", "078", "079", "081", "082", "083", "084", "085", "086", "088",
    "056", "058", "059",
)
_MOBILE_DIGITS = 10**7

# Province codes of the CCCD: Hà Nội and the provinces most of its newcomers come from.
PROVINCE_CODES = ("001", "026", "027", "030", "033", "034", "035", "036", "037", "038", "040",
                  "079", "031", "024", "022", "025")
# (century-and-gender digit, two-digit year): born 1940-1999 (0 male, 1 female) or 2000-2019
# (2 male, 3 female).
_BIRTHS = tuple((gender + 0, yy) for gender in (0, 1) for yy in range(40, 100)) + tuple(
    (gender + 2, yy) for gender in (0, 1) for yy in range(0, 20)
)
_CCCD_SERIALS = 10**6
# Of every 10 people, this many show a phone number; the others a citizen id.
_PHONES_PER_TEN = 7


def _coprime_multiplier(rng: random.Random, modulus: int) -> int:
    candidate = rng.randrange(modulus // 3, modulus) | 1
    while math.gcd(candidate, modulus) != 1:
        candidate += 2
    return candidate


_PHONE_SPACE = len(MOBILE_PREFIXES) * _MOBILE_DIGITS
_CCCD_SPACE = len(PROVINCE_CODES) * len(_BIRTHS) * _CCCD_SERIALS
CAPACITY = min(_PHONE_SPACE, _CCCD_SPACE)
"""How many people a city can have with distinct ids."""


class PersonIds:
    """The raw id person ``i`` of a city shows at the gates; ``key`` picks the permutation."""

    def __init__(self, key: str) -> None:
        rng = random.Random(f"{key}:person-ids")
        self._phone_a = _coprime_multiplier(rng, _PHONE_SPACE)
        self._phone_b = rng.randrange(_PHONE_SPACE)
        self._cccd_a = _coprime_multiplier(rng, _CCCD_SPACE)
        self._cccd_b = rng.randrange(_CCCD_SPACE)

    def person_id(self, index: int) -> str:
        if index % 10 < _PHONES_PER_TEN:
            slot = (self._phone_a * index + self._phone_b) % _PHONE_SPACE
            prefix, number = divmod(slot, _MOBILE_DIGITS)
            return f"{MOBILE_PREFIXES[prefix]}{number:07d}"
        slot = (self._cccd_a * index + self._cccd_b) % _CCCD_SPACE
        rest, serial = divmod(slot, _CCCD_SERIALS)
        province, birth = divmod(rest, len(_BIRTHS))
        century_gender, year = _BIRTHS[birth]
        return f"{PROVINCE_CODES[province]}{century_gender}{year:02d}{serial:06d}"


def event_id(seed: int, namespace: str, serial: int) -> str:
    """A scanner-style event UUID, derived from the seed (never ``uuid4``) so runs repeat.

    Example:
        >>> event_id(1, "sim1", 42)
        '9b999629-edf0-5733-bec5-8376fbbb9f29'
    """
    digest = hashlib.blake2b(f"{seed}:{namespace}:{serial}".encode(), digest_size=16).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


DISTRICTS = ("Hoàn Kiếm", "Ba Đình", "Đống Đa", "Hai Bà Trưng", "Cầu Giấy", "Tây Hồ",
             "Thanh Xuân", "Long Biên", "Hoàng Mai", "Nam Từ Liêm", "Hà Đông", "Bắc Từ Liêm")
STREETS = ("Tràng Tiền", "Hàng Bài", "Kim Mã", "Giảng Võ", "Láng Hạ", "Xuân Thủy",
           "Nguyễn Trãi", "Trần Duy Hưng", "Lạc Long Quân", "Nguyễn Văn Cừ", "Giải Phóng",
           "Tôn Đức Thắng", "Đội Cấn", "Bạch Mai", "Phạm Văn Đồng", "Lê Duẩn")
_BRANDS = ("Thành Công", "Hòa Bình", "Bình Minh", "Sao Mai", "Hồng Hà", "Việt Hưng",
           "Phú Thịnh", "An Khang", "Tân Tiến", "Đại Phát", "Hưng Thịnh", "Trường An",
           "Minh Long", "Kim Liên", "Thăng Long", "Sông Đà")
_NAME_PATTERNS = {
    "office": ("Tòa nhà {brand}", "Văn phòng Công ty {brand}", "{brand} Tower"),
    "factory": ("Nhà máy {brand}", "Công ty May {brand}", "Xưởng cơ khí {brand}"),
    "school": ("Trường THCS {brand}", "Trường Tiểu học {brand}", "Trường THPT {brand}"),
    "market": ("Chợ {district}", "Chợ {street}", "Siêu thị {brand}"),
    "restaurant": ("Phở {brand}", "Bún chả {street}", "Cơm tấm {brand}", "Quán {brand}"),
    "clinic": ("Phòng khám {brand}", "Trạm Y tế {district}", "Bệnh viện {brand}"),
}


def venue_name(rng: random.Random, kind: str, number: int) -> tuple[str, str]:
    """A name and a street address for a venue of ``kind``; ``number`` keeps names apart."""
    district, street, brand = rng.choice(DISTRICTS), rng.choice(STREETS), rng.choice(_BRANDS)
    name = rng.choice(_NAME_PATTERNS.get(kind, ("Cơ sở {brand}",))).format(
        brand=brand, district=district, street=street
    )
    address = f"{rng.randint(1, 300)} {street}, {district}, Hà Nội"
    return f"{name} ({number})", address
