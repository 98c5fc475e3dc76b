import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import { httpError } from "@identrail/http";
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

export const TimelineQuery = z.object({
  from: Rfc3339.optional(),
  to: Rfc3339.optional(),
  /** Identity event kind (secret_read …); only identity events match. */
  kind: FilterText(64).optional(),
  source: FilterText(64).optional(),
  /** Exact canonical resource URI. */
  resource: FilterText(2048).optional(),
  page_size: PageSize,
  page_token: z.string().max(2048).optional(),
});

const Flag = z.enum(["true", "false"]).transform((v) => v === "true");
export const IdentitiesQuery = z.object({
  type: FilterText(64).optional(),
  environment: FilterText(64).optional(),
  namespace: FilterText(253).optional(),
  owner: FilterText(256).optional(),
  /** Case-insensitive substring of id, display name or purpose. */
  q: FilterText(256).optional(),
  dormant: Flag.optional(),
  expired: Flag.optional(),
  ownerless: Flag.optional(),
  page_size: PageSize,
  page_token: z.string().max(2048).optional(),
});

interface InventoryRow {
  id: string;
  type: string;
  display_name: string;
  cluster: string;
  namespace: string;
  environment: string;
  owner: string;
  purpose: string;
  expires_at: string | null;
  first_seen: string | null;
  last_seen: string | null;
  dormant: number;
  expired: number;
}

export async function identityRoutes(
  app: FastifyInstance,
  opts: { ch: ClickHouseClient; dormantAfterMs: number },
) {
  const { ch } = opts;

  app.get(
    "/api/v1/identities",
    {
      config: { scope: "read" },
      schema: {
        summary: "Identity inventory",
        tags: ["identities"],
        querystring: z.toJSONSchema(IdentitiesQuery, { io: "input" }),
      },
    },
    async (req) => {
      const q = parseQuery(IdentitiesQuery, req.query);
      const params: Record<string, unknown> = {
        n: q.page_size + 1,
        dormant_before: ch64(new Date(Date.now() - opts.dormantAfterMs).toISOString()),
        now: ch64(new Date().toISOString()),
      };
      let where = "";
      for (const f of ["type", "environment", "namespace", "owner"] as const) {
        if (q[f] !== undefined) {
          // Column names come from the fixed list above, values are parameters.
          where += " AND i." + f + " = {" + f + ":String}";
          params[f] = q[f];
        }
      }
      if (q.q !== undefined) {
        where +=
          " AND (positionCaseInsensitiveUTF8(i.id, {text:String}) > 0 OR positionCaseInsensitiveUTF8(i.display_name, {text:String}) > 0 OR positionCaseInsensitiveUTF8(i.purpose, {text:String}) > 0)";
        params.text = q.q;
      }
      if (q.dormant !== undefined) where += q.dormant ? " AND dormant = 1" : " AND dormant = 0";
      if (q.expired !== undefined) where += q.expired ? " AND expired = 1" : " AND expired = 0";
      if (q.ownerless !== undefined) where += q.ownerless ? " AND i.owner = ''" : " AND i.owner != ''";
      const after = decodeToken(q.page_token, 1);
      if (after) {
        where += " AND i.id > {pid:String}";
        params.pid = after[0];
      }
      const list = await rows<InventoryRow>(
        ch,
        "SELECT i.id AS id, i.type AS type, i.display_name AS display_name, i.cluster AS cluster, i.namespace AS namespace, " +
          "i.environment AS environment, i.owner AS owner, i.purpose AS purpose, i.expires_at AS expires_at, " +
          "if(s.id = '', NULL, s.first_seen) AS first_seen, if(s.id = '', NULL, s.last_seen) AS last_seen, " +
          "(s.id != '' AND s.last_seen < parseDateTime64BestEffort({dormant_before:String}, 3, 'UTC')) AS dormant, " +
          "(i.expires_at IS NOT NULL AND i.expires_at < parseDateTime64BestEffort({now:String}, 3, 'UTC')) AS expired " +
          "FROM (SELECT * FROM identities FINAL) AS i " +
          "LEFT JOIN (SELECT id, min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM identity_seen GROUP BY id) AS s ON s.id = i.id " +
          "WHERE 1 = 1" +
          where +
          " ORDER BY i.id LIMIT {n:UInt32}",
        params,
      );
      const page = list.slice(0, q.page_size);
      const ids = page.map((r) => r.id);
      const aliases = new Map<string, string[]>();
      const open = new Map<string, number>();
      if (ids.length) {
        for (const r of await rows<{ identity_id: string; aliases: string[] }>(
          ch,
          "SELECT identity_id, groupUniqArray(100)(alias) AS aliases FROM identity_aliases WHERE identity_id IN {ids:Array(String)} AND alias != identity_id GROUP BY identity_id",
          { ids },
        ))
          aliases.set(
            r.identity_id,
            [...new Set(r.aliases.map((a) => (a.startsWith("raw:") ? a.slice(4) : a)))]
              .filter((a) => a !== r.identity_id)
              .sort(),
          );
        for (const r of await rows<{ identity_id: string; n: string }>(
          ch,
          "SELECT a.identity_id AS identity_id, count() AS n FROM (SELECT id, identity_id FROM alerts FINAL WHERE identity_id IN {ids:Array(String)}) AS a " +
            "LEFT JOIN (SELECT alert_id, argMax(status, version) AS status FROM alert_state GROUP BY alert_id) AS s ON s.alert_id = a.id " +
            "WHERE s.status = '' OR s.status = 'open' GROUP BY a.identity_id",
          { ids },
        ))
          open.set(r.identity_id, Number(r.n));
      }
      const items = page.map((r) => ({
        id: r.id,
        type: r.type || "unknown",
        display_name: r.display_name,
        cluster: r.cluster,
        namespace: r.namespace,
        environment: r.environment,
        owner: r.owner,
        purpose: r.purpose,
        expires_at: r.expires_at ? iso(r.expires_at) : null,
        first_seen: r.first_seen ? iso(r.first_seen) : null,
        last_seen: r.last_seen ? iso(r.last_seen) : null,
        aliases: aliases.get(r.id) ?? [],
        open_alerts: open.get(r.id) ?? 0,
        dormant: Boolean(Number(r.dormant)),
        expired: Boolean(Number(r.expired)),
        ownerless: r.owner === "",
      }));
      req.auditRows = items.length;
      const more = list.length > q.page_size;
      return { items, next_page_token: more && page.length ? encodeToken([page[page.length - 1].id]) : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/v1/identities/:id",
    {
      config: { scope: "read" },
      schema: { summary: "Get an identity by canonical id or any alias (URL-encoded)", tags: ["identities"] },
    },
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
      const body = {
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
      req.auditRows = 1;
      return body;
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/v1/identities/:id/timeline",
    {
      config: { scope: "read" },
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
      const { from, to } = timeRange(q.from, q.to, queryLimits.maxRangeMs);
      const params: Record<string, unknown> = {
        ids: ident.storedUnder,
        from: ch64(from),
        to: ch64(to),
        n: q.page_size + 1,
      };
      let keyset = "";
      if (q.kind !== undefined) {
        keyset += " AND type = 'identity_event' AND kind = {kind:String}";
        params.kind = q.kind;
      }
      if (q.source !== undefined) {
        keyset += " AND source = {source:String}";
        params.source = q.source;
      }
      if (q.resource !== undefined) {
        keyset += " AND resource_uri = {resource:String}";
        params.resource = q.resource;
      }
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
      const items = list
        .slice(0, q.page_size)
        .map((r) => ({ ...r, time: iso(r.time), bytes: Number(r.bytes) }));
      req.auditRows = items.length;
      const last = list[q.page_size - 1];
      return {
        identity: ident.id,
        items,
        next_page_token: more && last ? encodeToken([last.time, last.id]) : null,
      };
    },
  );
}
