import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, parseConfig } from "@identrail/config";

export const INGEST_TOKEN = "ingest-token-0123456789abcdef";
export const READ_TOKEN = "read-token-0123456789abcdef";
export const ADMIN_TOKEN = "admin-token-0123456789abcdef";

export function tempDir(prefix = "identrail-test-") {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A config for tests: a fresh data dir, known tokens, and a short learning period unless overridden. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return parseConfig({
    data_dir: tempDir(),
    port: 0,
    default_cluster: "prod",
    auth: {
      tokens: [
        { name: "ingest", token: INGEST_TOKEN, scopes: ["ingest"] },
        { name: "reader", token: READ_TOKEN, scopes: ["read"] },
        { name: "admin", token: ADMIN_TOKEN, scopes: ["ingest", "read", "respond", "admin"] },
      ],
    },
    ...overrides,
  });
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
}
