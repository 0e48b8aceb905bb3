"""``python -m services.alerts.worker``: run the alerts worker."""

from __future__ import annotations

from services.alerts.worker.app import run_worker
from services.core.config import Settings

if __name__ == "__main__":
    run_worker(Settings())
