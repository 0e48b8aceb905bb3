"""``python -m tests.reliability.crashing_alerts_worker``: the alerts worker, SIGKILLed by itself
exactly between a withdrawal's two writes.

The same :class:`AlertsWorker` (consumer, engine, producer: nothing of them replaced) with a store
whose ``write_case`` of a ``withdrawn`` row kills the process with SIGKILL before writing it: the
retractions are published and stored, the case row still says ``reported``. That is the moment
a crash cost the retractions when the row was written first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from services.alerts.domain import Case
from services.alerts.worker.app import AlertsWorker
from services.alerts.worker.store import AlertStore
from services.core.config import Settings
from services.core.worker import serve


class CrashingStore(AlertStore):
    def write_case(self, case: Case, status: str, withdrawn_at: int | None, version: int) -> None:
        if status == "withdrawn":
            os.kill(os.getpid(), signal.SIGKILL)
        super().write_case(case, status, withdrawn_at, version)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    worker = AlertsWorker(settings)
    worker.store = CrashingStore(settings)
    asyncio.run(serve(worker))


if __name__ == "__main__":
    main()
