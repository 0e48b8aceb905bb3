"""Routing undecodable input to ``dead-letter`` instead of dropping it."""

from __future__ import annotations

import base64

from schemas.common import utc_now
from schemas.errors import DeadLetter

MAX_PARKED_PAYLOAD = 1024 * 1024


def dead_letter(
    *,
    service: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
) -> DeadLetter:
    """A dead-letter record naming where the message came from and why it was refused.

    Payloads beyond 1 MiB are cut (the source offset still finds the original).
    """
    payload = value or b""
    return DeadLetter(
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode(errors="replace")[:256] if key is not None else None,
        reason=reason[:4000],
        payload_base64=base64.b64encode(payload[:MAX_PARKED_PAYLOAD]).decode(),
        service=service,
        failed_at=utc_now().isoformat(),
    )
