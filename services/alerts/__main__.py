"""``python -m services.alerts``: serve the alerts/dashboard API with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from services.alerts.api import create_app
from services.core.config import Settings

# Open SSE streams never end by themselves; on SIGTERM they get this long before being cut
# (clients reconnect elsewhere with Last-Event-ID and lose nothing).
GRACEFUL_SHUTDOWN_S = 5


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.alerts_host,
        port=settings.alerts_port,
        log_level="info",
        # As in ingest: no access log (a dashboard's polling would drown it); errors are logged
        # by the shared error handlers.
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


if __name__ == "__main__":
    main()
