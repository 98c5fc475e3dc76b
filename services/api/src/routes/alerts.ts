import type {} from "@fastify/swagger";
import type { ClickHouseClient } from "@clickhouse/client";
import { ALERT_STATUSES, SEVERITIES } from "@identrail/schema";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { resolveIdentity } from "../identity-lookup";
import { ch64, decodeToken, encodeToken, iso, PageSize, parseQuery, Rfc3339, rows } from "../query";

export const AlertsQuery = z.object({
  since: Rfc3339.optional(),
  until: Rfc3339.optional(),
  rule: z.string().max(128).optional(),
  severity: z.enum(SEVERITIES).optional(),
  identity: z.string().max(1024).optional(),
  status: z.enum(ALERT_STATUSES).optional(),
  page_size: PageSize,
  page_token: z.string().max(2048).optional(),
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

export async function alertRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient }) {
  const { ch } = opts;
  app.get(
    "/api/v1/alerts",
    { schema: { summary: "List alerts (newest activity first)", tags: ["alerts"], querystring: z.toJSONSchema(AlertsQuery, { io: "input" }) } },
    async (req) => {
      const q = parseQuery(AlertsQuery, req.query);
      const params: Record<string, unknown> = { n: q.page_size + 1 };
      let inner = "";
      let outer = "";
      if (q.since) {
        inner += " AND last_seen >= parseDateTime64BestEffort({since:String}, 3, 'UTC')";
        params.since = ch64(q.since);
      }
      if (q.until) {
        inner += " AND first_seen <= parseDateTime64BestEffort({until:String}, 3, 'UTC')";
        params.until = ch64(q.until);
      }
      if (q.rule) {
        inner += " AND rule = {rule:String}";
        params.rule = q.rule;
      }
      if (q.severity) {
        inner += " AND severity = {severity:String}";
        params.severity = q.severity;
      }
      if (q.identity) {
        const ident = await resolveIdentity(ch, q.identity);
        inner += " AND identity_id IN {identities:Array(String)}";
        params.identities = ident ? ident.storedUnder : [q.identity];
      }
      if (q.status) {
        outer += " AND status = {status:String}";
        params.status = q.status;
      }
      const after = decodeToken(q.page_token, 2);
      if (after) {
        outer += " AND (last_seen, id) < (parseDateTime64BestEffort({pt:String}, 3, 'UTC'), {pid:String})";
        params.pt = after[0];
        params.pid = after[1];
      }
      const list = await rows<AlertDbRow>(
        ch,
        SELECT_ALERTS + inner + JOIN_STATE + outer + " ORDER BY last_seen DESC, id DESC LIMIT {n:UInt32}",
        params,
      );
      const more = list.length > q.page_size;
      const items = list.slice(0, q.page_size).map(alertJson);
      const last = list[q.page_size - 1];
      return { items, next_page_token: more && last ? encodeToken([last.last_seen, last.id]) : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/v1/alerts/:id",
    { schema: { summary: "Get one alert with its evidence events", tags: ["alerts"] } },
    async (req, reply) => {
      const list = await rows<AlertDbRow>(ch, SELECT_ALERTS + " AND id = {id:String}" + JOIN_STATE + " LIMIT 1", {
        id: req.params.id,
      });
      if (!list.length) return reply.status(404).send({ error: { code: "not_found", message: "alert not found", retryable: false } });
      const alert = alertJson(list[0]);
      const evidence = await rows<Record<string, unknown>>(
        ch,
        "SELECT id, time, source, principal, operation, verb, resource_uri, outcome, status_code, src_ip, user_agent, raw_ref FROM events " +
          "WHERE id IN (SELECT event_id FROM alert_evidence WHERE alert_id = {id:String}) ORDER BY time DESC LIMIT 100",
        { id: alert.id },
      );
      return { ...alert, evidence: evidence.map((e) => ({ ...e, time: iso(String(e.time)) })) };
    },
  );
}
