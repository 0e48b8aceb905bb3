"""A synthetic city pushed through the real HTTP ingest API: ``truyvet simulate`` and ``demo``.

``city`` builds venues, people and their days, and ``gates`` turns the resulting scans into the
messy upload batches real gate scanners send; both are pure and deterministic for a seed.
``run`` posts them to ingest, ``alerts`` waits for the alerts of the reported cases, and
``commands`` holds the two CLI subcommands.
"""
