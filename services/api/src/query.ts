import type { ClickHouseClient } from "@clickhouse/client";
import { httpError } from "@identrail/http";
import { z } from "zod";

/** Per-query limits; apiRoutes sets them from the config. */
export const queryLimits = { maxExecutionTime: 30, maxPageSize: 1000, maxRangeMs: 366 * 86_400_000 };

/** Runs a parameterized read with the API's `max_execution_time`; store failures become 503 without detail. */
export async function rows<T>(
  ch: ClickHouseClient,
  query: string,
  params: Record<string, unknown>,
): Promise<T[]> {
  try {
    const rs = await ch.query({
      query,
      query_params: params,
      format: "JSONEachRow",
      clickhouse_settings: { max_execution_time: queryLimits.maxExecutionTime },
    });
    return (await rs.json()) as T[];
  } catch (e) {
    const msg = (e as Error).message;
    if (/TIMEOUT_EXCEEDED|max_execution_time/i.test(msg))
      throw httpError("store_unavailable", "query timed out");
    throw httpError("store_unavailable");
  }
}

/** Opaque keyset cursor: the sort key of the last row returned. */
export function encodeToken(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString("base64url");
}
export function decodeToken(token: string | undefined, arity: number): string[] | undefined {
  if (!token) return undefined;
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (
      Array.isArray(v) &&
      v.length === arity &&
      v.every((x) => typeof x === "string" || typeof x === "number")
    )
      return v.map(String);
  } catch {}
  throw httpError("bad_request", "invalid page_token");
}

export const Rfc3339 = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), "must be an RFC 3339 timestamp")
  .transform((s) => new Date(Date.parse(s)).toISOString());

export const PageSize = z.coerce
  .number()
  .int()
  .min(1)
  .max(10_000)
  .default(100)
  .refine((n) => n <= queryLimits.maxPageSize, { message: "page_size exceeds the configured maximum" });

/** Parses a query object with zod and reports the first bad field by name. */
export function parseQuery<T extends z.ZodTypeAny>(schema: T, q: unknown): z.infer<T> {
  const r = schema.safeParse(q ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    throw httpError("bad_request", `${i.path.join(".") || "query"}: ${i.message}`);
  }
  return r.data;
}

/** "2026-11-24T10:00:00.000Z" → ClickHouse DateTime64 text in UTC. */
export const ch64 = (iso: string) => iso.replace("T", " ").replace("Z", "");
export const iso = (ch: string) => (ch.includes("T") ? ch : `${ch.replace(" ", "T")}Z`);

export const MAX_RANGE_MS = 366 * 86_400_000;

/** Inserts rows (JSONEachRow); store failures become 503. */
export async function insertRows(
  ch: ClickHouseClient,
  table: string,
  values: Record<string, unknown>[],
): Promise<void> {
  if (!values.length) return;
  try {
    await ch.insert({ table, values, format: "JSONEachRow" });
  } catch {
    throw httpError("store_unavailable");
  }
}

/** Validates a [from, to) range against the configured maximum; defaults to the last `defaultMs`. */
export function timeRange(
  from: string | undefined,
  to: string | undefined,
  maxMs: number,
  defaultMs = 30 * 86_400_000,
): { from: string; to: string } {
  const t = to ?? new Date().toISOString();
  const f = from ?? new Date(Date.parse(t) - Math.min(defaultMs, maxMs)).toISOString();
  if (Date.parse(t) < Date.parse(f)) throw httpError("bad_request", "to is before from");
  if (Date.parse(t) - Date.parse(f) > maxMs)
    throw httpError("bad_request", `time range exceeds ${Math.round(maxMs / 86_400_000)} days`);
  return { from: f, to: t };
}

/** Monotonic version for ReplacingMergeTree rows written by the API (ms·1000 + a counter). */
let lastVersion = 0;
export function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

/** Filter text: bounded, no control characters (they never match anything legitimate). */
export const FilterText = (max = 1024) =>
  z
    .string()
    .max(max)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    .refine((s) => !/[\u0000-\u001f]/.test(s), "must not contain control characters");

declare module "fastify" {
  interface FastifyRequest {
    /** Rows returned by a handler, for the audit log. */
    auditRows?: number;
  }
  interface FastifyContextConfig {
    /** Scope a route requires (services/api checks it in an onRequest hook). */
    scope?: "read" | "respond" | "admin";
  }
}
