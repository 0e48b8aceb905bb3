"""The real local stack: Kafka, ClickHouse and the project's services as local processes.

Used by ``truyvet up / down / status`` and by the test fixtures. One module per concern:

- :mod:`.layout` — where everything lives under the state dir;
- :mod:`.processes` — detached processes, pid files, ports, polling with deadlines;
- :mod:`.kafka`, :mod:`.clickhouse` — the two servers;
- :mod:`.topics`, :mod:`.migrations` — what the pipeline needs inside them;
- :mod:`.credentials` — the local deployment's generated secrets;
- :mod:`.services` — the project's own services as child processes;
- :mod:`.lifecycle` — ``up`` / ``down`` / ``status`` over all of the above.

Nothing here starts anything at import time.
"""
