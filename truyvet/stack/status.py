"""What ``truyvet status`` reports about one part of the stack."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

State = Literal["running", "stopped", "unhealthy"]


@dataclass(frozen=True)
class PartStatus:
    """One part (kafka, clickhouse, a service): is it running, where, and does it answer."""

    name: str
    state: State
    pid: int | None
    address: str | None
    healthy: bool

    @classmethod
    def of(
        cls,
        name: str,
        *,
        pid: int | None,
        address: str | None,
        healthy: bool,
    ) -> PartStatus:
        state: State = "stopped" if pid is None else ("running" if healthy else "unhealthy")
        return cls(name, state, pid, address, healthy and pid is not None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
