-- Compression of water_readings on plain PostgreSQL: none.
--
-- PostgreSQL has no columnar compression for heap tables (TOAST compresses only wide values, and a
-- reading row is narrow), so this variant adds nothing but records the fact on the table.
COMMENT ON TABLE water_readings IS
    'Sensor readings, wide layout, monthly range partitions; uncompressed (compression needs TimescaleDB).';
