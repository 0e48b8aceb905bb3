"""``python -m services.ingest``: serve the ingest API with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from services.core.config import IngestSettings
from services.core.http.serving import uvicorn_options
from services.ingest.app import create_app


def main() -> None:
    settings = IngestSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_level="info",
        # Request lines carry no identifiers (they are in bodies), so access logs are safe.
        access_log=False,
        **uvicorn_options(settings),
    )


if __name__ == "__main__":
    main()
