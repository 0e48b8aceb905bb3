"""``python -m tests.reliability.purging_tracer``: the tracer worker, with a purge on request.

The tracer purges on an hourly timer, which a test cannot wait for. This runs the same
:class:`TracerWorker` (consumer, state, sink: nothing of it replaced) beside one task that runs
its :meth:`TracerWorker.purge` when ``<state_dir>/run/purge-request`` appears, holding the cutoff
in epoch seconds; once the purge is done it writes the cutoff to ``run/purge-done``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from services.core.config import Settings
from services.tracer.app import TracerWorker

REQUEST_POLL_S = 0.2


def request_file(settings: Settings) -> Path:
    return Path(settings.state_dir) / "run" / "purge-request"


def done_file(settings: Settings) -> Path:
    return Path(settings.state_dir) / "run" / "purge-done"


async def _purge_on_request(worker: TracerWorker, settings: Settings) -> None:
    request = request_file(settings)
    while True:
        if request.exists():
            cutoff = int(request.read_text())
            await worker.purge(cutoff)
            request.unlink()
            done_file(settings).write_text(str(cutoff))
        await asyncio.sleep(REQUEST_POLL_S)


async def _main(settings: Settings) -> None:
    worker = TracerWorker(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    purging = asyncio.create_task(_purge_on_request(worker, settings))
    try:
        await worker.run()
    finally:
        purging.cancel()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main(Settings()))


if __name__ == "__main__":
    main()
