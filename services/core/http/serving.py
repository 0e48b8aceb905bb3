"""How the HTTP services are served: one set of uvicorn options for ingest and alerts alike."""

from __future__ import annotations

from typing import Any

from services.core.config import Settings
from services.core.http.forwarded import uvicorn_forwarding


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The options of ``uvicorn.run`` / ``uvicorn.Config`` for ``settings``: which forwarded
    headers to believe and, when certificate files are set, HTTPS."""
    options = uvicorn_forwarding(settings)
    if settings.tls_cert_file is not None:
        options.update(ssl_certfile=str(settings.tls_cert_file),
                       ssl_keyfile=str(settings.tls_key_file))
    return options
