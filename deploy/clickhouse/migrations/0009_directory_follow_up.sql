-- The sealed contact directory's copy (the compacted `directory` topic is the log of record):
-- each pseudonym's identifier sealed to the health authority's public key, only the newest
-- kept (FINAL). Rows sealed before the retention horizon are deleted with it (rule 10), by the
-- alerts API's hourly purge.
CREATE TABLE IF NOT EXISTS directory
(
    pseudonym String,
    key_id String,
    sealed String,
    sealed_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(sealed_at)
ORDER BY pseudonym;

-- Every follow-up change of an alert, as the authority recorded it: append-only, the newest
-- version per (case, alert) is its state. Kept, like the audit log, for the audit period;
-- an alert retracted and derived again keeps its history (its id is a function of case and
-- person, rule 8).
CREATE TABLE IF NOT EXISTS follow_ups
(
    day Date,
    at DateTime('UTC'),
    case_id String,
    alert_id String,
    state String,
    note String,
    token_id String,
    reported_case_id String,
    version UInt64
)
ENGINE = MergeTree
PARTITION BY day
ORDER BY (case_id, alert_id, version);
