-- Bookkeeping of the loaders and the ingester: rejected input and one audit row per batch.

-- rejected_readings: every CSV row or Kafka message that failed parsing or validation, kept with its
-- original bytes so that it can be inspected and replayed after a fix; nothing is dropped silently.
--   source           file path relative to the data folder, or the Kafka topic
--   source_position  'file:line' (line 1 is the header) or 'topic/partition/offset'
--   reason           stable code from ingestion.validation (for example out_of_range, duplicate)
--   payload          the original line or message value, byte for byte
-- The unique key makes recording idempotent: re-running a load or re-consuming a partition
-- after a crash adds no second copy of the same rejection.
CREATE TABLE rejected_readings (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source           text        NOT NULL,
    source_position  text        NOT NULL,
    reason           text        NOT NULL,
    detail           text        NOT NULL,
    payload          bytea,
    received_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rejected_readings_position_reason_key UNIQUE (source, source_position, reason)
);

CREATE INDEX rejected_readings_reason_idx ON rejected_readings (reason, received_at);

-- ingestion_audit: one row per load or ingest batch.
--   rows_read       input rows or messages seen
--   rows_written    rows newly inserted into water_readings
--   rows_rejected   rows recorded as rejected (including duplicates inside the batch)
--   rows_duplicate  valid rows that water_readings already held (ON CONFLICT DO NOTHING)
--   offsets         per-source positions: lines per file, or the Kafka offsets committed
CREATE TABLE ingestion_audit (
    batch_id        uuid        PRIMARY KEY,
    job             text        NOT NULL,
    source          text        NOT NULL,
    rows_read       bigint      NOT NULL CHECK (rows_read >= 0),
    rows_written    bigint      NOT NULL CHECK (rows_written >= 0),
    rows_rejected   bigint      NOT NULL CHECK (rows_rejected >= 0),
    rows_duplicate  bigint      NOT NULL CHECK (rows_duplicate >= 0),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    offsets         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT ingestion_audit_time_order CHECK (finished_at >= started_at)
);

CREATE INDEX ingestion_audit_job_idx ON ingestion_audit (job, started_at);
