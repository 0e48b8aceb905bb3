"""Logging of every truyvet process: text for people, or one JSON object a line for machines.

``TRUYVET_LOG_FORMAT=json`` writes each record as ``{"time", "level", "service", "logger",
"message"}`` plus, where they apply, ``request_id`` (set by :mod:`services.core.http.observe`
while a request is served) and ``topic`` / ``partition`` / ``offset`` (given by a worker as the
record's ``extra``, e.g. for a dead letter).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

from services.core.http.observe import REQUEST_ID

LogFormat = Literal["text", "json"]
_EXTRA_FIELDS = ("topic", "partition", "offset")


class JsonLines(logging.Formatter):
    """One JSON object per record.

    Example:
        >>> record = logging.LogRecord("tracer", logging.WARNING, "", 0, "dead-lettered %s",
        ...                            ("scans",), None)
        >>> record.partition, record.offset, record.created = 3, 42, 0.0
        >>> print(JsonLines("tracer").format(record))
        {"time": "1970-01-01T00:00:00.000Z", "level": "WARNING", "service": "tracer", \
"logger": "tracer", "message": "dead-lettered scans", "partition": 3, "offset": 42}
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, object] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        record.request_id = f" [{request_id}]" if request_id else ""
        return True


def configure_logging(service: str, log_format: LogFormat, level: str = "info") -> None:
    """The root logger of a process, written to stderr in ``log_format``."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLines(service))
    else:
        handler.addFilter(_WithRequestId())
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s%(request_id)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
