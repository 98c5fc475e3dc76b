import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import { httpError } from "@identrail/http";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { identityProfile, openAlertCounts, resolveIdentity } from "../identity-lookup";
import { listRoute } from "../list-route";
import {
  ch64,
  decodeToken,
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
import { TtlCache } from "../ttl-cache";

export const TimelineQuery = z.object({
  ...rangeFields,
  /** Identity event kind (secret_read …); only identity events match. */
  kind: FilterText(64).optional(),
  source: FilterText(64).optional(),
  /** Exact canonical resource URI. */
  resource: FilterText(2048).optional(),
  ...pageFields,
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
  ...pageFields,
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
  // One cache per app (per store): pages of one data directory are never served for another.
  // Pages can be up to api.max_page_size rows each: bounded by rows held.
  const timelinePages = new TtlCache<{ identity: string; items: unknown[]; next_page_token: string | null }>(
    TIMELINE_TTL_MS,
    { maxWeight: 20_000, weigh: (page) => page.items.length + 1 },
  );

  listRoute(
    app,
    "/api/v1/identities",
    { scope: "read", summary: "Identity inventory", tags: ["identities"] },
    IdentitiesQuery,
    async (q) => {
      const params: Record<string, unknown> = {
        n: q.page_size + 1,
        dormant_before: ch64(new Date(Date.now() - opts.dormantAfterMs).toISOString()),
        now: ch64(new Date().toISOString()),
      };
      let where = equalsWhere(
        q,
        { type: "i.type", environment: "i.environment", namespace: "i.namespace", owner: "i.owner" },
        params,
      );
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
      const ids = list.slice(0, q.page_size).map((r) => r.id);
      const aliases = new Map<string, string[]>();
      const open = await openAlertCounts(ch, ids);
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
      }
      const toJson = (r: InventoryRow) => ({
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
      });
      const page = pageOf(list, q.page_size, toJson, (last) => [last.id]);
      return page;
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
      const profile = await identityProfile(ch, ident.id);
      const [seen] = await rows<{ first_seen: string; last_seen: string }>(
        ch,
        "SELECT min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM identity_seen WHERE id IN {ids:Array(String)} HAVING count() > 0",
        { ids: ident.storedUnder },
      );
      const open = await openAlertCounts(ch, ident.storedUnder);
      const body = {
        id: ident.id,
        type: profile.type,
        display_name: profile.display_name,
        aliases: ident.aliases,
        cluster: profile.cluster,
        namespace: profile.namespace,
        environment: profile.environment,
        owner: profile.owner,
        purpose: profile.purpose,
        expires_at: profile.expires_at,
        first_seen: seen ? iso(seen.first_seen) : null,
        last_seen: seen ? iso(seen.last_seen) : null,
        open_alerts: [...open.values()].reduce((a, b) => a + b, 0),
      };
      req.auditRows = 1;
      return body;
    },
  );

  listRoute<typeof TimelineQuery, { id: string }>(
    app,
    "/api/v1/identities/:id/timeline",
    {
      scope: "read",
      summary: "Every event and identity event of an identity across sources, newest first",
      tags: ["identities"],
      response: TimelinePage,
    },
    TimelineQuery,
    async (q, req) => {
      const ident = await resolveIdentity(ch, req.params.id);
      if (!ident) throw httpError("not_found", "unknown identity");
      // Keyed by what selects the rows (the query as given: a page without `to` is "up to now", and
      // may be served up to TIMELINE_TTL_MS after it was read, like any cached page).
      const key = JSON.stringify([
        ident.id,
        ident.storedUnder,
        q.from,
        q.to,
        q.kind,
        q.source,
        q.resource,
        q.page_size,
        q.page_token,
      ]);
      return timelinePages.get(key, () => timelinePage(q, ident));
    },
  );

  async function timelinePage(
    q: z.infer<typeof TimelineQuery>,
    ident: { id: string; storedUnder: string[] },
  ) {
    const params: Record<string, unknown> = { ids: ident.storedUnder, n: q.page_size + 1 };
    const range =
      "identity_id IN {ids:Array(String)} AND " +
      rangeWhere("time", timeRange(q.from, q.to, queryLimits.maxRangeMs), params);
    // The cursor narrows the filtered rows; it never replaces the filters (a later page must keep
    // kind/source/resource). Each branch is filtered, ordered and limited on its own so ClickHouse
    // reads both tables in primary-key order (identity_id, time) and stops after n rows.
    const common =
      range +
      equalsWhere(q, { source: "source", resource: "resource_uri" }, params) +
      keysetWhere(q.page_token, { time: "time", id: "id" }, params);
    const identityEvents =
      "(SELECT 'identity_event' AS type, id, time, source, '' AS operation, '' AS verb, resource_uri, resource_kind AS resource_type, '' AS outcome, 0 AS status_code, '' AS principal, '' AS src_ip, '' AS user_agent, kind, event_id, bytes, attrs FROM identity_events WHERE " +
      common +
      (q.kind !== undefined ? " AND kind = {kind:String}" : "") +
      " ORDER BY time DESC, id DESC LIMIT {n:UInt32})";
    if (q.kind !== undefined) params.kind = q.kind;
    // Only identity events have a kind: with a kind filter the events branch is not run at all.
    // Otherwise both branches go in one statement (embedded chDB runs statements one at a time, so
    // each one costs a full round); the two sorted, limited branches are merged here rather than by
    // an outer ORDER BY, which cost as much as reading a table (~2 ms of ~10 ms on 10M events).
    const sql =
      q.kind !== undefined
        ? identityEvents
        : "(SELECT 'event' AS type, id, time, source, operation, verb, resource_uri, resource_type, outcome, status_code, principal, src_ip, user_agent, '' AS kind, '' AS event_id, toUInt64(bytes_in + bytes_out) AS bytes, attrs FROM events WHERE " +
          common +
          " ORDER BY time DESC, id DESC LIMIT {n:UInt32}) UNION ALL " +
          identityEvents;
    const list = await rows<TimelineRow>(ch, sql, params);
    list.sort(newestFirst);
    list.length = Math.min(list.length, q.page_size + 1);
    const page = pageOf(
      list,
      q.page_size,
      (r) => ({ ...r, time: iso(r.time), bytes: Number(r.bytes) }),
      (last) => [last.time, last.id],
    );
    return { identity: ident.id, ...page };
  }
}

/**
 * Timeline pages are served from memory for up to one second after they were read (an analyst's
 * client re-asking, several dashboard panels or users on the same identity). Events reach the store
 * seconds after they happen (Kafka, detector batches), so one more second of delay is within what a
 * timeline reader already sees; a write does not invalidate a cached page before the second is over.
 */
const TIMELINE_TTL_MS = 1000;

interface TimelineRow {
  type: string;
  id: string;
  /** DateTime64(3) text, fixed width, so text order is time order. */
  time: string;
  bytes: number | string;
  [column: string]: unknown;
}

/**
 * ClickHouse's `ORDER BY time DESC, id DESC`: time text is fixed-width; Strings compare as bytes, which
 * UTF-16 order matches except where surrogate pairs meet U+E000…U+FFFF, compared as UTF-8 then.
 */
function newestFirst(a: TimelineRow, b: TimelineRow): number {
  if (a.time !== b.time) return a.time < b.time ? 1 : -1;
  if (a.id === b.id) return 0;
  if (WIDE_CHAR.test(a.id) || WIDE_CHAR.test(b.id))
    return Buffer.compare(Buffer.from(b.id), Buffer.from(a.id));
  return a.id < b.id ? 1 : -1;
}
const WIDE_CHAR = /[\ud800-\uffff]/;

/**
 * The timeline page as JSON schema: documents the response in OpenAPI and lets fastify serialize it
 * with a compiled serializer instead of JSON.stringify. Every row has every field (the branch that
 * lacks a column selects '' or 0), so nothing is dropped.
 */
const str = { type: "string" } as const;
const TimelinePage = {
  type: "object",
  properties: {
    identity: str,
    items: {
      type: "array",
      items: {
        type: "object",
        properties: {
          type: { type: "string", enum: ["event", "identity_event"] },
          id: str,
          time: { type: "string", format: "date-time" },
          source: str,
          operation: str,
          verb: str,
          resource_uri: str,
          resource_type: str,
          outcome: str,
          status_code: { type: "integer" },
          principal: str,
          src_ip: str,
          user_agent: str,
          kind: str,
          event_id: str,
          bytes: { type: "integer" },
          attrs: { type: "object", additionalProperties: str },
        },
      },
    },
    next_page_token: { type: "string", nullable: true },
  },
} as const;
