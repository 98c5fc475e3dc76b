/**
 * Several chDB connections on one data directory, used as one connection by @clickhouse/client.
 *
 * libchdb runs the statements of one connection one after another, while connections opened at the same
 * path coexist and run side by side (chdb-node README, "One data directory at a time": "Opening another
 * session at the same path needs no wait — those connections coexist by design"). Measured on the bench
 * machine: three `SELECT sleep(0.1)` sent together over one connection finish after 103, 205 and 306 ms, over
 * three connections all after ~104 ms; three inserts of 2,000 rows together take 27 ms instead of ~45. The
 * pipeline's stages, the dead-letter sink and the API each issue statements of their own, so on a single
 * connection every one of them waits for all the others.
 *
 * Each call goes to the connection with the fewest calls in flight. Parameterised statements stay
 * serialised process-wide whatever the connection: chdb-node chains them itself, because libchdb's
 * parameter binding is not isolated between concurrent queries.
 */
import type { ChdbConnection } from "./client";

/** Connections opened for an embedded data directory, unless the caller says otherwise. */
export const EMBEDDED_CONNECTIONS = 4;

export function poolConnections(conns: ChdbConnection[]): ChdbConnection {
  if (conns.length === 1) return conns[0];
  const inFlight = conns.map(() => 0);
  const call = async <T>(f: (c: ChdbConnection) => Promise<T>): Promise<T> => {
    let i = 0;
    for (let j = 1; j < conns.length; j++) if (inFlight[j] < inFlight[i]) i = j;
    inFlight[i]++;
    try {
      return await f(conns[i]);
    } finally {
      inFlight[i]--;
    }
  };
  const pool: ChdbConnection = {
    ping: (p) => call((c) => c.ping(p)),
    query: (p) => call((c) => c.query(p)),
    insert: (p) => call((c) => c.insert(p)),
    command: (p) => call((c) => c.command(p)),
    exec: (p) => call((c) => c.exec(p)),
    close: async () => {
      for (const c of conns) await c.close();
    },
  };
  // chDB's own escape hatches (`.chdb`, e.g. rawInsert for the write benchmark): the first connection's.
  Object.defineProperty(pool, "chdb", { get: () => (conns[0] as unknown as { chdb: unknown }).chdb });
  return pool;
}
