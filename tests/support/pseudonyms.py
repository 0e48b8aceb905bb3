"""What ingest turns a test's raw person ids into, computed by the tests themselves.

The tests write the spelling rule 13 gives their own ids by hand (they use Vietnamese mobile
numbers written nationally) rather than calling ingest's normaliser: a test that asked the code
under test what to expect would pass whatever the code did.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from services.core.config import IngestSettings


def vn_mobile_e164(national: str) -> str:
    """``0912345678`` as E.164: the trunk ``0`` gives way to Viet Nam's ``+84``.

    Example:
        >>> vn_mobile_e164("0912345678")
        '+84912345678'
    """
    if not re.fullmatch(r"0[35789][0-9]{8}", national):
        raise ValueError(f"{national!r} is not a Vietnamese mobile number written nationally")
    return "+84" + national[1:]


def pseudonym(settings: IngestSettings, normalised: str) -> str:
    """HMAC-SHA256 of an identifier already in its one spelling, under the deployment's key."""
    key = settings.pseudonym_secret.get_secret_value().encode()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()
