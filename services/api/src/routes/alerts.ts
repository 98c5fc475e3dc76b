import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import { httpError } from "@identrail/http";
import { ALERT_STATUSES, SEVERITIES } from "@identrail/schema";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { canonicalIds, identityProfile, resolveIdentity } from "../identity-lookup";
import { listRoute } from "../list-route";
import {
  ch64,
  equalsWhere,
  FilterText,
  insertRows,
  iso,
  keysetWhere,
  nextVersion,
  pageFields,
  pageOf,
  parseQuery,
  queryLimits,
  Rfc3339,
  rows,
} from "../query";

export const AlertsQuery = z.object({
  since: Rfc3339.optional(),
  until: Rfc3339.optional(),
  rule: FilterText(128).optional(),
  severity: z.enum(SEVERITIES).optional(),
  identity: FilterText(1024).optional(),
  status: z.enum(ALERT_STATUSES).optional(),
  namespace: FilterText(253).optional(),
  environment: FilterText(64).optional(),
  /** Case-insensitive substring of title, description or resource. */
  q: FilterText(256).optional(),
  ...pageFields,
});

interface AlertDbRow {
  id: string;
  rule: string;
  severity: string;
  status: string;
  identity: string;
  title: string;
  description: string;
  resource: string;
  first_seen: string;
  last_seen: string;
  count: string | number;
  labels: Record<string, string>;
  mitre: string[];
  assignee: string;
  created_at: string;
}

const SELECT_ALERTS =
  "SELECT a.id AS id, a.rule AS rule, a.severity AS severity, if(s.status = '', 'open', s.status) AS status, " +
  "a.identity_id AS identity, a.title AS title, a.description AS description, a.resource AS resource, " +
  "a.first_seen AS first_seen, a.last_seen AS last_seen, a.count AS count, a.labels AS labels, a.mitre AS mitre, " +
  "s.assignee AS assignee, a.created_at AS created_at " +
  "FROM (SELECT * FROM alerts FINAL WHERE 1 = 1";
const JOIN_STATE =
  ") AS a LEFT JOIN (SELECT alert_id, argMax(status, version) AS status, argMax(assignee, version) AS assignee " +
  "FROM alert_state GROUP BY alert_id) AS s ON s.alert_id = a.id WHERE 1 = 1";

export function alertJson(r: AlertDbRow) {
  return {
    id: r.id,
    rule: r.rule,
    severity: r.severity,
    status: r.status,
    identity: r.identity,
    title: r.title,
    description: r.description,
    resource: r.resource,
    first_seen: iso(r.first_seen),
    last_seen: iso(r.last_seen),
    count: Number(r.count),
    labels: r.labels,
    mitre: r.mitre,
    assignee: r.assignee ?? "",
    created_at: iso(r.created_at),
    class_uid: 2004,
  };
}

/** Alerts name the identity's current canonical id (issue 2 contract), not the one it had at detection. */
async function withCanonicalIdentity(ch: ClickHouseClient, list: AlertDbRow[]): Promise<AlertDbRow[]> {
  const canon = await canonicalIds(
    ch,
    list.map((r) => r.identity),
  );
  return list.map((r) => ({ ...r, identity: canon.get(r.identity) ?? r.identity }));
}

async function loadAlert(ch: ClickHouseClient, id: string) {
  const list = await rows<AlertDbRow>(ch, SELECT_ALERTS + " AND id = {id:String}" + JOIN_STATE + " LIMIT 1", {
    id,
  });
  if (!list.length) throw httpError("not_found", "alert not found");
  const [r] = await withCanonicalIdentity(ch, list);
  return alertJson(r);
}

const Assign = z.object({ assignee: z.string().max(256), comment: z.string().max(4096).optional() });
const Comment = z.object({ comment: z.string().min(1).max(4096) });
const Transition = z.object({ comment: z.string().max(4096).optional() }).default({});

const TRANSITIONS = { ack: "acknowledged", resolve: "resolved", reopen: "open" } as const;

export async function alertRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient }) {
  const { ch } = opts;
  listRoute(
    app,
    "/api/v1/alerts",
    { scope: "read", summary: "List alerts (newest activity first)", tags: ["alerts"] },
    AlertsQuery,
    async (q) => {
      const params: Record<string, unknown> = { n: q.page_size + 1 };
      // since/until select alerts whose [first_seen, last_seen] overlaps the window (event times).
      if (q.since && q.until && Date.parse(q.until) < Date.parse(q.since))
        throw httpError("bad_request", "until is before since");
      if (q.since && q.until && Date.parse(q.until) - Date.parse(q.since) > queryLimits.maxRangeMs)
        throw httpError("bad_request", "time range exceeds the configured maximum");
      let inner = "";
      if (q.since) {
        inner += " AND last_seen >= parseDateTime64BestEffort({since:String}, 3, 'UTC')";
        params.since = ch64(q.since);
      }
      if (q.until) {
        inner += " AND first_seen <= parseDateTime64BestEffort({until:String}, 3, 'UTC')";
        params.until = ch64(q.until);
      }
      inner += equalsWhere(
        q,
        {
          rule: "rule",
          severity: "severity",
          namespace: "labels['namespace']",
          environment: "labels['environment']",
        },
        params,
      );
      if (q.q !== undefined) {
        inner +=
          " AND (positionCaseInsensitiveUTF8(title, {text:String}) > 0 OR positionCaseInsensitiveUTF8(description, {text:String}) > 0 OR positionCaseInsensitiveUTF8(resource, {text:String}) > 0)";
        params.text = q.q;
      }
      if (q.identity !== undefined) {
        const ident = await resolveIdentity(ch, q.identity);
        inner += " AND identity_id IN {identities:Array(String)}";
        params.identities = ident ? ident.storedUnder : [q.identity];
      }
      const outer =
        equalsWhere(q, { status: "status" }, params) +
        keysetWhere(q.page_token, { time: "last_seen", id: "id" }, params);
      const list = await rows<AlertDbRow>(
        ch,
        SELECT_ALERTS + inner + JOIN_STATE + outer + " ORDER BY last_seen DESC, id DESC LIMIT {n:UInt32}",
        params,
      );
      const page = pageOf(await withCanonicalIdentity(ch, list), q.page_size, alertJson, (last) => [
        last.last_seen,
        last.id,
      ]);
      return page;
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/v1/alerts/:id",
    {
      config: { scope: "read" },
      schema: {
        summary: "Get one alert with its evidence events, identity summary and history",
        tags: ["alerts"],
      },
    },
    async (req) => {
      const alert = await loadAlert(ch, req.params.id);
      const evidence = await rows<Record<string, unknown>>(
        ch,
        "SELECT id, time, source, principal, operation, verb, resource_uri, outcome, status_code, src_ip, user_agent, raw_ref FROM events " +
          "WHERE id IN (SELECT event_id FROM alert_evidence WHERE alert_id = {id:String}) ORDER BY time DESC LIMIT 100",
        { id: alert.id },
      );
      const { cluster: _cluster, ...profile } = await identityProfile(ch, alert.identity);
      const history = await historyOf(ch, alert.id);
      req.auditRows = 1;
      return {
        ...alert,
        evidence: evidence.map((e) => ({ ...e, time: iso(String(e.time)) })),
        identity_summary: { id: alert.identity, ...profile },
        history,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/v1/alerts/:id/history",
    {
      config: { scope: "read" },
      schema: { summary: "Status changes, assignments and comments of an alert", tags: ["alerts"] },
    },
    async (req) => {
      await loadAlert(ch, req.params.id);
      const items = await historyOf(ch, req.params.id);
      req.auditRows = items.length;
      return { items };
    },
  );

  /** Records one analyst action: a new alert_state version (when status/assignee change) and a history row. */
  async function act(
    alertId: string,
    actor: string,
    action: string,
    change: { status?: string; assignee?: string; comment?: string },
  ) {
    const alert = await loadAlert(ch, alertId);
    const now = ch64(new Date().toISOString());
    const status = change.status ?? alert.status;
    const assignee = change.assignee ?? alert.assignee;
    if (change.status !== undefined || change.assignee !== undefined)
      await insertRows(ch, "alert_state", [
        { alert_id: alert.id, status, assignee, updated_at: now, updated_by: actor, version: nextVersion() },
      ]);
    await insertRows(ch, "alert_history", [
      {
        alert_id: alert.id,
        at: now,
        actor,
        action,
        from_status: alert.status,
        to_status: status,
        comment:
          change.assignee !== undefined
            ? `assignee=${assignee}${change.comment ? `\n${change.comment}` : ""}`
            : (change.comment ?? ""),
      },
    ]);
    return { ...alert, status, assignee };
  }

  for (const [verb, status] of Object.entries(TRANSITIONS)) {
    app.post<{ Params: { id: string } }>(
      `/api/v1/alerts/:id/${verb}`,
      {
        config: { scope: "respond" },
        schema: {
          summary: `Set an alert's status to ${status}`,
          tags: ["alerts"],
          body: z.toJSONSchema(Transition, { io: "input" }),
        },
      },
      async (req) => {
        const b = parseQuery(Transition, req.body ?? {});
        req.auditRows = 1;
        return act(req.params.id, req.principal!.name, verb, { status, comment: b.comment });
      },
    );
  }
  app.post<{ Params: { id: string } }>(
    "/api/v1/alerts/:id/assign",
    {
      config: { scope: "respond" },
      schema: {
        summary: "Assign an alert ('' unassigns)",
        tags: ["alerts"],
        body: z.toJSONSchema(Assign, { io: "input" }),
      },
    },
    async (req) => {
      const b = parseQuery(Assign, req.body);
      req.auditRows = 1;
      return act(req.params.id, req.principal!.name, "assign", { assignee: b.assignee, comment: b.comment });
    },
  );
  app.post<{ Params: { id: string } }>(
    "/api/v1/alerts/:id/comments",
    {
      config: { scope: "respond" },
      schema: {
        summary: "Comment on an alert",
        tags: ["alerts"],
        body: z.toJSONSchema(Comment, { io: "input" }),
      },
    },
    async (req, reply) => {
      const b = parseQuery(Comment, req.body);
      req.auditRows = 1;
      return reply
        .status(201)
        .send(await act(req.params.id, req.principal!.name, "comment", { comment: b.comment }));
    },
  );
}

async function historyOf(ch: ClickHouseClient, id: string) {
  const h = await rows<{
    at: string;
    actor: string;
    action: string;
    from_status: string;
    to_status: string;
    comment: string;
  }>(
    ch,
    "SELECT at, actor, action, from_status, to_status, comment FROM alert_history WHERE alert_id = {id:String} ORDER BY at, action LIMIT 1000",
    { id },
  );
  return h.map((r) => ({ ...r, at: iso(r.at) }));
}
