"""How the HTTP services are served: one set of uvicorn options for ingest and alerts alike."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from services.core.config import Settings
from services.core.http.forwarded import uvicorn_forwarding

KEEP_ALIVE_S = 5
"""An idle kept-alive connection is closed after this long (uvicorn's own timer)."""


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The options of ``uvicorn.run`` / ``uvicorn.Config`` for ``settings``: which forwarded
    headers to believe, HTTPS when certificate files are set, and the connection deadlines."""
    options = uvicorn_forwarding(settings)
    if settings.tls_cert_file is not None:
        options.update(ssl_certfile=str(settings.tls_cert_file),
                       ssl_keyfile=str(settings.tls_key_file))
    protocol = type("HeadDeadlineProtocol", (HeadDeadlineProtocol,),
                    {"head_timeout_s": settings.http_header_timeout_s})
    options.update(http=protocol, timeout_keep_alive=KEEP_ALIVE_S)
    return options


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head does not arrive in time.

    uvicorn times out an idle kept-alive connection, but not one that never sends a request
    or sends its headers a byte at a time: a few hundred of those would hold every connection.
    Here each connection, and each kept-alive one after a response, must deliver a complete
    request head within :attr:`head_timeout_s` or is closed. (A slow *body* is the routes'
    deadline: :func:`services.core.http.body.capped_chunks`.)
    """

    head_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _disarm_head_deadline(self) -> None:
        deadline: asyncio.TimerHandle | None = getattr(self, "truyvet_head_deadline", None)
        if deadline is not None:
            deadline.cancel()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        served = self.cycle  # the request already answered (None on a fresh connection)

        def close_unless_a_request_came() -> None:
            if self.cycle is served and not self.transport.is_closing():
                self.transport.close()

        self.truyvet_head_deadline = asyncio.get_running_loop().call_later(
            self.head_timeout_s, close_unless_a_request_came
        )
