import type { ClickHouseClient } from "@clickhouse/client";
import { httpError } from "@identrail/http";
import { z } from "zod";

export async function rows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T[]> {
  try {
    const rs = await ch.query({ query, query_params: params, format: "JSONEachRow" });
    return (await rs.json()) as T[];
  } catch (e) {
    const msg = (e as Error).message;
    if (/TIMEOUT_EXCEEDED|max_execution_time/i.test(msg)) throw httpError("store_unavailable", "query timed out");
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
    if (Array.isArray(v) && v.length === arity && v.every((x) => typeof x === "string" || typeof x === "number"))
      return v.map(String);
  } catch {}
  throw httpError("bad_request", "invalid page_token");
}

export const Rfc3339 = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), "must be an RFC 3339 timestamp")
  .transform((s) => new Date(Date.parse(s)).toISOString());

export const PageSize = z.coerce.number().int().min(1).max(1000).default(100);

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
