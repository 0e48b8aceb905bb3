-- Clusters (rule 12) as the alerts worker last found them, the newest version of each winning;
-- a dissolved cluster is `deleted`. Read with FINAL and `deleted = 0` like the derived tables.
CREATE TABLE IF NOT EXISTS clusters
(
    cluster_id String,
    venue_id String,
    venue_kind String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    case_ids Array(String),
    visit_ids Array(String),
    visitors UInt32,
    detected_at DateTime('UTC'),
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY cluster_id;
