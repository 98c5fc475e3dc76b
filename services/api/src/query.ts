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

/**
 * RFC 3339 §5.6 date-time (T/Z in either case, an offset or Z required). Date.parse alone would take
 * "1" (the year 2001) or a zone-less local time, and a typo would silently move the window.
 */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
export const Rfc3339 = z
  .string()
  .max(64)
  .refine(
    (s) => RFC3339_RE.test(s) && !Number.isNaN(Date.parse(s)),
    "must be an RFC 3339 timestamp such as 2026-11-20T10:00:00Z (URL-encode a '+' offset as %2B)",
  )
  .transform((s) => new Date(Date.parse(s)).toISOString());

/**
 * Over the configured maximum is a 400 naming the maximum, not a silent clamp: a script that asked for
 * 5000 rows and quietly got 1000 would treat the short page as the end of the data. Without page_size
 * a page holds 100 rows, or the configured maximum when that is smaller.
 */
export const PageSize = z.coerce
  .number()
  .int()
  .min(1)
  .superRefine((n, ctx) => {
    if (n > queryLimits.maxPageSize)
      ctx.addIssue({
        code: "custom",
        message: `must be at most ${queryLimits.maxPageSize} (api.max_page_size); follow next_page_token for more`,
      });
  })
  .optional()
  .transform((n) => n ?? Math.min(100, queryLimits.maxPageSize))
  .meta({
    description: "Rows per page: default 100 (or api.max_page_size when smaller), at most api.max_page_size.",
  });

/** Query fields every keyset-paginated listing takes. */
export const pageFields = { page_size: PageSize, page_token: z.string().max(2048).optional() };
/** Optional [from, to) bounds of a listing (see timeRange for defaults and limits). */
export const rangeFields = { from: Rfc3339.optional(), to: Rfc3339.optional() };

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

/**
 * `column` within [from, to), as a WHERE fragment; `column` is a constant identifier from the caller,
 * the bounds are the `{from}` / `{to}` parameters.
 */
export function rangeWhere(
  column: string,
  range: { from: string; to: string },
  params: Record<string, unknown>,
) {
  params.from = ch64(range.from);
  params.to = ch64(range.to);
  return (
    column +
    " >= parseDateTime64BestEffort({from:String}, 3, 'UTC') AND " +
    column +
    " < parseDateTime64BestEffort({to:String}, 3, 'UTC')"
  );
}

/**
 * " AND column = {field:String}" for every filter present in `q`; `columns` maps query fields to
 * constant column expressions (never user input), values travel as parameters named after the field.
 */
export function equalsWhere<F extends string>(
  q: { [K in NoInfer<F>]?: string | undefined },
  columns: Record<F, string>,
  params: Record<string, unknown>,
): string {
  let where = "";
  for (const [field, column] of Object.entries(columns) as [F, string][]) {
    const v = q[field];
    if (v === undefined) continue;
    where += " AND " + column + " = {" + field + ":String}";
    params[field] = v;
  }
  return where;
}

/**
 * Keyset condition for a listing ordered by (time DESC, id DESC[, seq DESC]): rows strictly after the
 * cursor's row. Column names are constants from the caller; the cursor values are parameters.
 */
export function keysetWhere(
  token: string | undefined,
  key: { time: string; id: string; seq?: string },
  params: Record<string, unknown>,
): string {
  const after = decodeToken(token, key.seq ? 3 : 2);
  if (!after) return "";
  // A cursor we wrote holds a ClickHouse DateTime64 text; anything else would surface as a 503 from
  // parseDateTime64BestEffort instead of the client's mistake.
  if (!/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z?$/.test(after[0]))
    throw httpError("bad_request", "invalid page_token");
  params.pt = after[0];
  params.pid = after[1];
  if (!key.seq)
    return (
      " AND (" +
      key.time +
      ", " +
      key.id +
      ") < (parseDateTime64BestEffort({pt:String}, 3, 'UTC'), {pid:String})"
    );
  const seq = Number(after[2]);
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff_ffff)
    throw httpError("bad_request", "invalid page_token");
  params.pseq = seq;
  return (
    " AND (" +
    key.time +
    ", " +
    key.id +
    ", " +
    key.seq +
    ") < (parseDateTime64BestEffort({pt:String}, 3, 'UTC'), {pid:String}, {pseq:UInt32})"
  );
}

/**
 * The "fetch n+1" page: queries ask for page_size + 1 rows (`{n:UInt32}`); the extra row only says
 * that there is more, and the cursor is the sort key of the last row returned.
 */
export function pageOf<R, T>(
  list: R[],
  pageSize: number,
  toJson: (r: R) => T,
  cursor: (last: R) => (string | number)[],
): { items: T[]; next_page_token: string | null } {
  const items = list.slice(0, pageSize).map(toJson);
  const last = list[pageSize - 1];
  return { items, next_page_token: list.length > pageSize && last ? encodeToken(cursor(last)) : null };
}
