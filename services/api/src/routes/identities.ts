import type {} from "@fastify/swagger";
import type { ClickHouseClient } from "@clickhouse/client";
import { httpError } from "@identrail/http";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { resolveIdentity } from "../identity-lookup";
import { ch64, decodeToken, encodeToken, iso, MAX_RANGE_MS, PageSize, parseQuery, Rfc3339, rows } from "../query";

export const TimelineQuery = z.object({
  from: Rfc3339.optional(),
  to: Rfc3339.optional(),
  page_size: PageSize,
  page_token: z.string().max(2048).optional(),
});

export async function identityRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient }) {
  const { ch } = opts;

  app.get<{ Params: { id: string } }>(
    "/api/v1/identities/:id",
    { schema: { summary: "Get an identity by canonical id or any alias (URL-encoded)", tags: ["identities"] } },
    async (req) => {
      const ident = await resolveIdentity(ch, req.params.id);
      if (!ident) throw httpError("not_found", "unknown identity");
      const [info] = await rows<Record<string, string | null>>(
        ch,
        "SELECT type, display_name, cluster, namespace, environment, owner, purpose, expires_at FROM identities FINAL WHERE id = {id:String} LIMIT 1",
        { id: ident.id },
      );
      const [seen] = await rows<{ first_seen: string; last_seen: string }>(
        ch,
        "SELECT min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM identity_seen WHERE id IN {ids:Array(String)} HAVING count() > 0",
        { ids: ident.storedUnder },
      );
      const [open] = await rows<{ n: string }>(
        ch,
        "SELECT count() AS n FROM (SELECT id FROM alerts FINAL WHERE identity_id IN {ids:Array(String)}) AS a " +
          "LEFT JOIN (SELECT alert_id, argMax(status, version) AS status FROM alert_state GROUP BY alert_id) AS s ON s.alert_id = a.id " +
          "WHERE s.status = '' OR s.status = 'open'",
        { ids: ident.storedUnder },
      );
      return {
        id: ident.id,
        type: info?.type || "unknown",
        display_name: info?.display_name ?? "",
        aliases: ident.aliases,
        cluster: info?.cluster ?? "",
        namespace: info?.namespace ?? "",
        environment: info?.environment ?? "",
        owner: info?.owner ?? "",
        purpose: info?.purpose ?? "",
        expires_at: info?.expires_at ? iso(info.expires_at) : null,
        first_seen: seen ? iso(seen.first_seen) : null,
        last_seen: seen ? iso(seen.last_seen) : null,
        open_alerts: Number(open?.n ?? 0),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/v1/identities/:id/timeline",
    {
      schema: {
        summary: "Every event and identity event of an identity across sources, newest first",
        tags: ["identities"],
        querystring: z.toJSONSchema(TimelineQuery, { io: "input" }),
      },
    },
    async (req) => {
      const q = parseQuery(TimelineQuery, req.query);
      const ident = await resolveIdentity(ch, req.params.id);
      if (!ident) throw httpError("not_found", "unknown identity");
      const to = q.to ?? new Date().toISOString();
      const from = q.from ?? new Date(Date.parse(to) - 30 * 86_400_000).toISOString();
      if (Date.parse(to) - Date.parse(from) > MAX_RANGE_MS) throw httpError("bad_request", "time range exceeds 366 days");
      if (Date.parse(to) < Date.parse(from)) throw httpError("bad_request", "to is before from");
      const params: Record<string, unknown> = { ids: ident.storedUnder, from: ch64(from), to: ch64(to), n: q.page_size + 1 };
      let keyset = "";
      const after = decodeToken(q.page_token, 2);
      if (after) {
        keyset = " AND (time, id) < (parseDateTime64BestEffort({pt:String}, 3, 'UTC'), {pid:String})";
        params.pt = after[0];
        params.pid = after[1];
      }
      const range =
        "identity_id IN {ids:Array(String)} AND time >= parseDateTime64BestEffort({from:String}, 3, 'UTC') AND time < parseDateTime64BestEffort({to:String}, 3, 'UTC')";
      const list = await rows<Record<string, any>>(
        ch,
        "SELECT * FROM (" +
          "SELECT 'event' AS type, id, time, source, operation, verb, resource_uri, resource_type, outcome, status_code, principal, src_ip, user_agent, '' AS kind, '' AS event_id, toUInt64(bytes_in + bytes_out) AS bytes, attrs FROM events WHERE " +
          range +
          " UNION ALL " +
          "SELECT 'identity_event' AS type, id, time, source, '' AS operation, '' AS verb, resource_uri, resource_kind AS resource_type, '' AS outcome, 0 AS status_code, '' AS principal, '' AS src_ip, '' AS user_agent, kind, event_id, bytes, attrs FROM identity_events WHERE " +
          range +
          ") WHERE 1 = 1" +
          keyset +
          " ORDER BY time DESC, id DESC LIMIT {n:UInt32}",
        params,
      );
      const more = list.length > q.page_size;
      const items = list.slice(0, q.page_size).map((r) => ({ ...r, time: iso(r.time), bytes: Number(r.bytes) }));
      const last = list[q.page_size - 1];
      return { identity: ident.id, items, next_page_token: more && last ? encodeToken([last.time, last.id]) : null };
    },
  );
}
