import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClickHouseClient } from "@clickhouse/client";
import { logger } from "@identrail/core";

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

export interface MigrateOptions {
  /** Replicated deployments: create Replicated* engines ON CLUSTER this name. */
  cluster?: string;
  dir?: string;
}

/** Splits a migration file into statements (`;` at end of line); comments stay with their statement. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) =>
      s
        .split("\n")
        .filter((l) => !l.trim().startsWith("--"))
        .join("\n")
        .trim(),
    )
    .filter(Boolean);
}

/**
 * Rewrites a CREATE TABLE for a replicated cluster, and runs a CREATE VIEW on every node (a view holds no
 * data; each node needs its own). Engine names are fixed identifiers from our own migration files, not
 * user input. Uses the {shard}/{replica} macros every replicated server defines.
 */
export function replicate(stmt: string, cluster: string): string {
  if (!/^CREATE (TABLE|VIEW) IF NOT EXISTS /i.test(stmt)) return stmt;
  const withCluster = stmt.replace(
    /^(CREATE (?:TABLE|VIEW) IF NOT EXISTS\s+\w+)/i,
    `$1 ON CLUSTER '${cluster.replace(/'/g, "")}'`,
  );
  return withCluster.replace(
    /ENGINE\s*=\s*(Replacing|Aggregating|Summing)?MergeTree(\(([^)]*)\))?/,
    (_m, kind = "", _p, args) =>
      `ENGINE = Replicated${kind}MergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}'${args ? `, ${args}` : ""})`,
  );
}

/** Applies every NNN_name.sql in order. Each statement is idempotent DDL, so re-running is safe. */
export async function migrate(ch: ClickHouseClient, opts: MigrateOptions = {}): Promise<string[]> {
  const dir = opts.dir ?? MIGRATIONS_DIR;
  const files = readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  for (const f of files) {
    for (const stmt of splitStatements(readFileSync(join(dir, f), "utf8"))) {
      await ch.command({ query: opts.cluster ? replicate(stmt, opts.cluster) : stmt });
    }
    logger.debug({ migration: f }, "migration applied");
  }
  return files;
}
