"""``python -m services.ingest``: serve the ingest API with uvicorn."""

from __future__ import annotations

import uvicorn

from services.core.config import IngestSettings
from services.core.http.serving import uvicorn_options
from services.core.logs import configure_logging
from services.ingest.app import create_app


def main() -> None:
    settings = IngestSettings()
    configure_logging("ingest", settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_level="info",
        log_config=None,  # uvicorn's loggers write through ours (services/core/logs.py)
        # Request lines carry no identifiers (they are in bodies), so access logs are safe.
        access_log=False,
        **uvicorn_options(settings),
    )


if __name__ == "__main__":
    main()
