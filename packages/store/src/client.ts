import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type ClickHouseClient, createClient } from "@clickhouse/client";
import { EMBEDDED_CONNECTIONS, poolConnections } from "./chdb-pool";

export interface StoreOptions {
  /** ClickHouse server URL; without it the embedded chDB engine is used under dataDir/clickhouse. */
  url?: string;
  database?: string;
  username?: string;
  password?: string;
  dataDir: string;
  maxExecutionTime?: number;
  /**
   * Test hook (fault injection): wraps the embedded chDB connection, e.g. to make inserts fail for a
   * while, since the in-process engine cannot be stopped like a server. Applies when this call opens
   * the data directory (the first client for a path in the process); ignored for server URLs.
   */
  wrapConnection?: (conn: ChdbConnection) => ChdbConnection;
  /** Embedded only: chDB connections opened on the data directory and used side by side (chdb-pool.ts). */
  connections?: number;
}

/** The `@clickhouse/client-common` Connection contract that chDB's connection implements. */
export type ChdbConnection = Parameters<typeof createClient>[0] extends infer P
  ? P extends { connection?: infer C }
    ? NonNullable<C>
    : never
  : never;

export interface StoreClient {
  ch: ClickHouseClient;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * chDB embeds one engine per process; a data directory is locked by the process that opened it, and
 * the chdb connection ignores `database` (tables live in `default`), so SQL never names a database.
 */
const embeddedClients = new Map<string, { client: ClickHouseClient; refs: number }>();

export async function createStoreClient(opts: StoreOptions): Promise<StoreClient> {
  if (opts.url) {
    const ch = createClient({
      url: opts.url,
      username: opts.username,
      password: opts.password,
      database: opts.database ?? "identrail",
      clickhouse_settings: {
        max_execution_time: opts.maxExecutionTime ?? 30,
        date_time_input_format: "best_effort",
      },
      request_timeout: 60_000,
    });
    const db = opts.database ?? "identrail";
    // Create the database through a client bound to `default`, since ours may not exist yet.
    const boot = createClient({ url: opts.url, username: opts.username, password: opts.password });
    await boot.command({ query: "CREATE DATABASE IF NOT EXISTS {db:Identifier}", query_params: { db } });
    await boot.close();
    return { ch, embedded: false, close: () => ch.close() };
  }
  const path = resolve(join(opts.dataDir, "clickhouse"));
  let entry = embeddedClients.get(path);
  if (!entry) {
    mkdirSync(path, { recursive: true });
    const { createChdbConnection } = await import("chdb/connection");
    const conn = poolConnections(
      Array.from(
        { length: opts.connections ?? EMBEDDED_CONNECTIONS },
        () => createChdbConnection({ path }) as unknown as ChdbConnection,
      ),
    );
    const client = createClient({
      connection: opts.wrapConnection ? opts.wrapConnection(conn) : conn,
      clickhouse_settings: { date_time_input_format: "best_effort" },
    });
    entry = { client, refs: 0 };
    embeddedClients.set(path, entry);
  }
  entry.refs++;
  const e = entry;
  let closed = false;
  return {
    ch: e.client,
    embedded: true,
    close: async () => {
      if (closed) return;
      closed = true;
      e.refs--;
      if (e.refs === 0) {
        embeddedClients.delete(path);
        await e.client.close();
      }
    },
  };
}
