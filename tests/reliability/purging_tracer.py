"""``python -m tests.reliability.purging_tracer``: the tracer worker, with a purge on request.

The tracer purges on an hourly Faust timer, which a test cannot wait for. This runs the same
:class:`TracerWorker` (agents, table, sink: nothing of it replaced) and adds one timer that runs
its :meth:`TracerWorker.purge` when ``<state_dir>/run/purge-request`` appears, holding the cutoff
in epoch seconds (once the changelog table is recovered); once the purge is done it writes the
cutoff to ``run/purge-done``.
"""

from __future__ import annotations

from pathlib import Path

import faust

from services.core.config import Settings
from services.tracer.app import TracerWorker


def request_file(settings: Settings) -> Path:
    return Path(settings.state_dir) / "run" / "purge-request"


def done_file(settings: Settings) -> Path:
    return Path(settings.state_dir) / "run" / "purge-done"


def main() -> None:
    settings = Settings()
    worker = TracerWorker(settings)

    async def purge_on_request() -> None:
        request = request_file(settings)
        # Only once the table is recovered: a purge before would miss the segments to forget.
        if request.exists() and worker.app.tables.actives_ready:
            cutoff = int(request.read_text())
            await worker.purge(cutoff)
            request.unlink()
            done_file(settings).write_text(str(cutoff))

    worker.app.timer(interval=0.5)(purge_on_request)
    faust.Worker(worker.app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
