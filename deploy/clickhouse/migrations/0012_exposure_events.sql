-- Venue exposure events (rule 11) as the alerts worker last processed them: declared (or
-- corrected) and withdrawn, the newest version of each event winning. A restarted worker loads
-- the declared ones and re-traces them; Grafana and the dashboard list them.
CREATE TABLE IF NOT EXISTS exposure_events
(
    event_id String,
    venue_id String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    message String,
    action String,
    min_presence_s UInt32,
    with_contacts UInt8,
    declared_at DateTime('UTC'),
    status String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY event_id;

-- The kill switch of venue alerts (`truyvet exposure pause|resume`): the newest row holds.
CREATE TABLE IF NOT EXISTS exposure_switch
(
    paused UInt8,
    changed_at DateTime('UTC'),
    changed_by String,
    version UInt64
)
ENGINE = MergeTree()
ORDER BY version;
