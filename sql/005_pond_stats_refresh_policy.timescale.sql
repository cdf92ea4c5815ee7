-- Refresh policies of the continuous aggregates.
--
-- Each policy re-materialises a trailing window (start_offset) that covers readings arriving late
-- through Kafka, and leaves out the newest bucket (end_offset = one bucket), which is still filling.
-- History loaded into older buckets lies outside these windows; the loader refreshes it with
-- aquafs.migrations.refresh_aggregates.
SELECT add_continuous_aggregate_policy(
    'pond_stats_15m',
    start_offset => INTERVAL '1 day',
    end_offset => INTERVAL '15 minutes',
    schedule_interval => INTERVAL '15 minutes'
);

SELECT add_continuous_aggregate_policy(
    'pond_stats_1h',
    start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '1 hour'
);
