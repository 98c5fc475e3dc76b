import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { resolveIdentity } from "../identity-lookup";
import { listRoute } from "../list-route";
import {
  equalsWhere,
  FilterText,
  iso,
  keysetWhere,
  pageFields,
  pageOf,
  queryLimits,
  rangeFields,
  rangeWhere,
  rows,
  timeRange,
} from "../query";

export const EventsQuery = z.object({
  ...rangeFields,
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
  ...pageFields,
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
  listRoute(
    app,
    "/api/v1/events",
    {
      scope: "read",
      summary: "Search normalized events (newest first; default range the last 24 hours)",
      tags: ["events"],
    },
    EventsQuery,
    async (q) => {
      const params: Record<string, unknown> = { n: q.page_size + 1 };
      let where =
        rangeWhere("time", timeRange(q.from, q.to, queryLimits.maxRangeMs, 86_400_000), params) +
        equalsWhere(q, EXACT, params);
      if (q.resource_prefix !== undefined) {
        where += " AND startsWith(resource_uri, {resource_prefix:String})";
        params.resource_prefix = q.resource_prefix;
      }
      if (q.identity !== undefined) {
        const ident = await resolveIdentity(ch, q.identity);
        where += " AND identity_id IN {ids:Array(String)}";
        params.ids = ident ? ident.storedUnder : [q.identity];
      }
      where += keysetWhere(q.page_token, { time: "time", id: "id" }, params);
      const list = await rows<Record<string, any>>(
        ch,
        "SELECT id, time, source, cluster, identity_id, principal, principal_type, operation, verb, resource_uri, resource_type, namespace, " +
          "src_ip, user_agent, outcome, status_code, reason, bytes_in, bytes_out, raw_ref, attrs FROM events WHERE " +
          where +
          " ORDER BY time DESC, id DESC LIMIT 1 BY id LIMIT {n:UInt32}",
        params,
      );
      const page = pageOf(
        list,
        q.page_size,
        (r) => ({ ...r, time: iso(r.time), bytes_in: Number(r.bytes_in), bytes_out: Number(r.bytes_out) }),
        (last) => [last.time, last.id],
      );
      return page;
    },
  );
}
