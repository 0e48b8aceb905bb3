"""Which client a request comes from, when reverse proxies may stand in front.

uvicorn believes ``X-Forwarded-For`` from loopback by default. On a machine where anything else
runs (a local proxy, a sidecar, another tenant's process) that lets any client pick the address
it is rate-limited as: rotate the header to guess tokens without limit, or name a victim's
address to lock the victim out. So the HTTP services believe the header only from the proxies
of ``TRUYVET_TRUSTED_PROXIES``; uvicorn then takes as the client the nearest address in the
header that is not one of them, which is what the limit keys on.
"""

from __future__ import annotations

from typing import Any

from services.core.config import Settings


def uvicorn_forwarding(settings: Settings) -> dict[str, Any]:
    """The options of ``uvicorn.run`` / ``uvicorn.Config`` for forwarded headers.

    Examples:
        >>> uvicorn_forwarding(Settings(trusted_proxies=""))
        {'proxy_headers': False}
        >>> uvicorn_forwarding(Settings(trusted_proxies="10.0.0.0/8, 192.168.1.7"))
        {'proxy_headers': True, 'forwarded_allow_ips': ['10.0.0.0/8', '192.168.1.7']}
    """
    proxies = settings.trusted_proxy_list
    if not proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies}
