"""``python -m services.alerts``: serve the alerts/dashboard API with uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType

import uvicorn

from services.alerts.api import create_app
from services.alerts.api.stream import AlertStreams
from services.core.config import Settings
from services.core.http.serving import uvicorn_options
from services.core.logs import configure_logging

# A backstop only: open SSE streams are ended as soon as shutdown begins (below).
GRACEFUL_SHUTDOWN_S = 10


class _Server(uvicorn.Server):
    """Ends open alert streams when shutdown begins: uvicorn waits for every open response
    before it stops, and an SSE stream never ends by itself."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def main() -> None:
    settings = Settings()
    configure_logging("alerts", settings.log_format)
    app = create_app(settings)
    streams: AlertStreams = app.state.streams
    config = uvicorn.Config(
        app,
        host=settings.alerts_host,
        port=settings.alerts_port,
        log_level="info",
        log_config=None,  # uvicorn's loggers write through ours (services/core/logs.py)
        # As in ingest: no access log (a dashboard's polling would drown it); errors are logged
        # by the shared error handlers.
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        **uvicorn_options(settings),
    )
    _Server(config, on_exit=streams.end_all).run()


if __name__ == "__main__":
    main()
