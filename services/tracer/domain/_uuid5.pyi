"""services/tracer/domain/_uuid5.c: UUID5s of many names at once."""

from collections.abc import Sequence

def joined(namespace: bytes, rows: Sequence[tuple[str | int, ...]], /) -> list[str]: ...
