-- Refresh of the pond statistics on plain PostgreSQL.
--
-- PostgreSQL has no job scheduler, so there is no policy to add. The views are refreshed by
-- aquafs.migrations.refresh_aggregates, which the loader calls after each load and which a cron
-- job can call as well. The comments record this where an operator inspecting the views sees it.
COMMENT ON MATERIALIZED VIEW pond_stats_15m IS
    'Per-pond 15-minute statistics; refreshed by aquafs.migrations.refresh_aggregates (no scheduler on plain PostgreSQL).';
COMMENT ON MATERIALIZED VIEW pond_stats_1h IS
    'Per-pond 1-hour statistics; refreshed by aquafs.migrations.refresh_aggregates (no scheduler on plain PostgreSQL).';
