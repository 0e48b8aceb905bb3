-- The audit log's copy in ClickHouse (the `audit` topic is the log of record): every read of
-- per-person data, who (token id), what, when, how many people. Append-only: rows are never
-- replaced or deleted, but for whole day partitions past TRUYVET_AUDIT_RETENTION_DAYS (rule 10).
CREATE TABLE IF NOT EXISTS audit
(
    day Date,
    at DateTime('UTC'),
    audit_id String,
    token_id String,
    role String,
    what String,
    case_id String,
    subject String,
    people UInt32
)
ENGINE = MergeTree
PARTITION BY day
ORDER BY (at, audit_id);
