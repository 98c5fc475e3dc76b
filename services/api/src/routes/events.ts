import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { resolveIdentity } from "../identity-lookup";
import {
  ch64,
  decodeToken,
  encodeToken,
  FilterText,
  iso,
  PageSize,
  parseQuery,
  queryLimits,
  Rfc3339,
  rows,
  timeRange,
} from "../query";

export const EventsQuery = z.object({
  from: Rfc3339.optional(),
  to: Rfc3339.optional(),
  identity: FilterText(1024).optional(),
  source: FilterText(64).optional(),
  cluster: FilterText(128).optional(),
  namespace: FilterText(253).optional(),
  principal: FilterText(1024).optional(),
  operation: FilterText(256).optional(),
  verb: FilterText(32).optional(),
  resource: FilterText(2048).optional(),
  /** Prefix of the canonical resource URI (e.g. s3://bucket/models/). */
  resource_prefix: FilterText(2048).optional(),
  outcome: z.enum(["success", "failure", "unknown"]).optional(),
  src_ip: FilterText(64).optional(),
  page_size: PageSize,
  page_token: z.string().max(2048).optional(),
});

/** Exact-match filters: query field → events column (fixed identifiers, never user input). */
const EXACT = {
  source: "source",
  cluster: "cluster",
  namespace: "namespace",
  principal: "principal",
  operation: "operation",
  verb: "verb",
  resource: "resource_uri",
  outcome: "outcome",
  src_ip: "src_ip",
} as const;

export async function eventRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient }) {
  const { ch } = opts;
  app.get(
    "/api/v1/events",
    {
      config: { scope: "read" },
      schema: {
        summary: "Search normalized events (newest first; default range the last 24 hours)",
        tags: ["events"],
        querystring: z.toJSONSchema(EventsQuery, { io: "input" }),
      },
    },
    async (req) => {
      const q = parseQuery(EventsQuery, req.query);
      const { from, to } = timeRange(q.from, q.to, queryLimits.maxRangeMs, 86_400_000);
      const params: Record<string, unknown> = { from: ch64(from), to: ch64(to), n: q.page_size + 1 };
      let where =
        "time >= parseDateTime64BestEffort({from:String}, 3, 'UTC') AND time < parseDateTime64BestEffort({to:String}, 3, 'UTC')";
      for (const [field, column] of Object.entries(EXACT) as [keyof typeof EXACT, string][]) {
        const v = q[field];
        if (v === undefined) continue;
        where += " AND " + column + " = {" + field + ":String}";
        params[field] = v;
      }
      if (q.resource_prefix !== undefined) {
        where += " AND startsWith(resource_uri, {resource_prefix:String})";
        params.resource_prefix = q.resource_prefix;
      }
      if (q.identity !== undefined) {
        const ident = await resolveIdentity(ch, q.identity);
        where += " AND identity_id IN {ids:Array(String)}";
        params.ids = ident ? ident.storedUnder : [q.identity];
      }
      const after = decodeToken(q.page_token, 2);
      if (after) {
        where += " AND (time, id) < (parseDateTime64BestEffort({pt:String}, 3, 'UTC'), {pid:String})";
        params.pt = after[0];
        params.pid = after[1];
      }
      const list = await rows<Record<string, any>>(
        ch,
        "SELECT id, time, source, cluster, identity_id, principal, principal_type, operation, verb, resource_uri, resource_type, namespace, " +
          "src_ip, user_agent, outcome, status_code, reason, bytes_in, bytes_out, raw_ref, attrs FROM events WHERE " +
          where +
          " ORDER BY time DESC, id DESC LIMIT 1 BY id LIMIT {n:UInt32}",
        params,
      );
      const more = list.length > q.page_size;
      const items = list.slice(0, q.page_size).map((r) => ({
        ...r,
        time: iso(r.time),
        bytes_in: Number(r.bytes_in),
        bytes_out: Number(r.bytes_out),
      }));
      req.auditRows = items.length;
      const last = list[q.page_size - 1];
      return { items, next_page_token: more && last ? encodeToken([last.time, last.id]) : null };
    },
  );
}
