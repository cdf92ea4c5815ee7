// Runs queries against the TimescaleDB variant of the aquafs schema in PGlite, on given rows.
//
// Usage: node compare.mjs <input.json> <output.json>
//
// input.json:  {"rows": [water_readings rows as objects, timestamps ISO 8601 with an offset],
//               "queries": [{"name": ..., "sql": ...}, ...]}
// output.json: {"<name>": [result rows as objects], ...}, with timestamps as ISO 8601 strings in
//              UTC, numbers as JSON numbers, and non-finite floats as "Infinity", "-Infinity" or
//              "NaN" because JSON has no literal for them.
//
// tests/sql/test_schema_paths_agree.py runs the same queries on plain PostgreSQL and compares.
// Exit code 0 = every query ran; anything else prints the failing step and exits 1.

import { readFileSync, writeFileSync } from 'node:fs'
import { applyMigration, openTimescaleDb, timescaleMigrations } from './migrations.mjs'

const COLUMNS = [
  'site_id', 'pond_id', 'sensor_id', 'event_timestamp', 'available_at', 'water_temp_c', 'ph',
  'turbidity_ntu', 'dissolved_oxygen_mg_l', 'ammonia_mg_l', 'nitrate_mg_l', 'source',
]
// 500 rows x 12 columns = 6,000 parameters, well below PostgreSQL's limit of 65,535 per statement.
const BATCH_ROWS = 500

class StepError extends Error {}

function readInput(path) {
  let input
  try {
    input = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new StepError(`cannot read input ${path}: ${error.message}`)
  }
  if (!Array.isArray(input.rows) || !Array.isArray(input.queries)) {
    throw new StepError(`input ${path} must have an array "rows" and an array "queries"`)
  }
  for (const [index, query] of input.queries.entries()) {
    if (typeof query?.name !== 'string' || typeof query?.sql !== 'string') {
      throw new StepError(`query ${index} in ${path} needs a string "name" and a string "sql"`)
    }
  }
  return input
}

async function insertRows(db, rows) {
  for (let start = 0; start < rows.length; start += BATCH_ROWS) {
    const batch = rows.slice(start, start + BATCH_ROWS)
    const params = []
    const tuples = batch.map((row) => {
      const placeholders = COLUMNS.map((column) => {
        params.push(row[column] ?? null)
        return `$${params.length}`
      })
      return `(${placeholders.join(', ')})`
    })
    try {
      await db.query(`INSERT INTO water_readings (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, params)
    } catch (error) {
      throw new StepError(`insert of rows ${start}..${start + batch.length - 1} failed: ${error.message}`)
    }
  }
}

const NUMERIC_OID = 1700

function toJsonValue(value, dataTypeId) {
  // PGlite returns numeric as a string to keep its precision; the output contract wants a number.
  if (dataTypeId === NUMERIC_OID && typeof value === 'string') return Number(value)
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'bigint') {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  return value
}

async function runQuery(db, query) {
  let result
  try {
    result = await db.query(query.sql)
  } catch (error) {
    throw new StepError(`query ${query.name} failed: ${error.message}`)
  }
  const typeByName = new Map(result.fields.map((field) => [field.name, field.dataTypeID]))
  return result.rows.map((row) =>
    Object.fromEntries(Object.entries(row).map(([key, value]) => [key, toJsonValue(value, typeByName.get(key))])),
  )
}

async function main(inputPath, outputPath) {
  const input = readInput(inputPath)
  const db = await openTimescaleDb()

  for (const name of timescaleMigrations()) {
    try {
      await applyMigration(db, name)
    } catch (error) {
      throw new StepError(`migration ${name} failed: ${error.message}`)
    }
  }

  await insertRows(db, input.rows)
  // NULL bounds refresh every bucket, so the aggregates cover all inserted rows.
  for (const view of ['pond_stats_15m', 'pond_stats_1h']) {
    try {
      await db.query('CALL refresh_continuous_aggregate($1, NULL, NULL)', [view])
    } catch (error) {
      throw new StepError(`refresh of ${view} failed: ${error.message}`)
    }
  }

  const output = {}
  for (const query of input.queries) output[query.name] = await runQuery(db, query)
  writeFileSync(outputPath, JSON.stringify(output))
  console.log(`compare: ${input.rows.length} rows inserted, ${input.queries.length} queries written to ${outputPath}`)
}

const [inputPath, outputPath] = process.argv.slice(2)
if (!inputPath || !outputPath) {
  console.error('usage: node compare.mjs <input.json> <output.json>')
  process.exit(2)
}
try {
  await main(inputPath, outputPath)
} catch (error) {
  console.error(`compare failed: ${error instanceof StepError ? error.message : error.stack ?? error}`)
  process.exit(1)
}
