"""``python -m services.tracer``: run one tracer worker (scale out by starting more)."""

from __future__ import annotations

from services.core.config import Settings
from services.tracer.app import run_worker

if __name__ == "__main__":
    run_worker(Settings())
