-- truyvet analytics store. Runs on ClickHouse 18.16 and on current releases.
-- Derived facts are ReplacingMergeTree(version) with a `deleted` flag: a retraction is a newer
-- row with deleted = 1, and readers use `FINAL ... WHERE deleted = 0`, so a replay after a crash
-- never shows a row twice. Scans, visits and contacts are partitioned by day so retention
-- (rule 10) drops whole partitions (18.16 has no TTL clause).

CREATE TABLE IF NOT EXISTS scans
(
    day Date,
    venue_id String,
    event_id String,
    person_id String,
    direction Enum8('in' = 1, 'out' = 2),
    scanned_at DateTime('UTC'),
    gate String,
    ingested_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY day
ORDER BY (venue_id, scanned_at, event_id);

CREATE TABLE IF NOT EXISTS visits
(
    day Date,
    venue_id String,
    person_id String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    visit_id String,
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY day
ORDER BY (venue_id, started_at, person_id, visit_id);

-- "All contacts at venue V on day D": a primary-key range read.
CREATE TABLE IF NOT EXISTS contacts
(
    day Date,
    venue_id String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    contact_id String,
    person_a String,
    person_b String,
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY day
ORDER BY (venue_id, started_at, contact_id);

-- "All contacts of person X between t1 and t2": each edge is written once per endpoint.
CREATE TABLE IF NOT EXISTS contacts_by_person
(
    day Date,
    person_id String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    contact_id String,
    other_person_id String,
    venue_id String,
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY day
ORDER BY (person_id, started_at, contact_id);

-- Cases and alerts are kept for audit (rule 10), so they are not partitioned by day.
CREATE TABLE IF NOT EXISTS cases
(
    case_id String,
    person_id String,
    status Enum8('reported' = 1, 'withdrawn' = 2),
    onset_at Nullable(DateTime('UTC')),
    sampled_at Nullable(DateTime('UTC')),
    reported_at DateTime('UTC'),
    isolated_at Nullable(DateTime('UTC')),
    withdrawn_at Nullable(DateTime('UTC')),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY case_id;

CREATE TABLE IF NOT EXISTS alerts
(
    case_id String,
    alert_id String,
    person_id String,
    degree UInt8,
    exposed_at DateTime('UTC'),
    via_person_id String,
    venue_ids Array(String),
    exposures String,
    created_at DateTime('UTC'),
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (case_id, alert_id);

CREATE TABLE IF NOT EXISTS venues
(
    venue_id String,
    name String,
    kind String,
    default_dwell_s UInt32,
    max_dwell_s UInt32,
    min_overlap_s UInt32,
    created_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY venue_id;
