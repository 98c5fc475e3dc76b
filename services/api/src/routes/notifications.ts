import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
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

const Query = z.object({
  from: Rfc3339.optional(),
  to: Rfc3339.optional(),
  alert: FilterText(256).optional(),
  receiver: FilterText(64).optional(),
  outcome: z.enum(["delivered", "retry", "failed"]).optional(),
  page_size: PageSize,
  page_token: z.string().max(2048).optional(),
});

interface AttemptRow {
  at: string;
  outbox_id: string;
  alert_id: string;
  receiver: string;
  kind: string;
  attempt: number;
  status_code: number;
  outcome: string;
  error: string;
  duration_ms: number;
}

/** Every delivery attempt of the notifier (packages/notify), newest first, plus the outbox backlog. */
export async function notificationRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient }) {
  const { ch } = opts;
  app.get(
    "/api/v1/notifications",
    {
      config: { scope: "read" },
      schema: {
        summary: "Notification delivery attempts",
        tags: ["notifications"],
        querystring: z.toJSONSchema(Query, { io: "input" }),
      },
    },
    async (req) => {
      const q = parseQuery(Query, req.query);
      const { from, to } = timeRange(q.from, q.to, queryLimits.maxRangeMs, 7 * 86_400_000);
      const params: Record<string, unknown> = { from: ch64(from), to: ch64(to), n: q.page_size + 1 };
      let where =
        "at >= parseDateTime64BestEffort({from:String}, 3, 'UTC') AND at < parseDateTime64BestEffort({to:String}, 3, 'UTC')";
      if (q.alert !== undefined) {
        where += " AND alert_id = {alert:String}";
        params.alert = q.alert;
      }
      if (q.receiver !== undefined) {
        where += " AND receiver = {receiver:String}";
        params.receiver = q.receiver;
      }
      if (q.outcome !== undefined) {
        where += " AND outcome = {outcome:String}";
        params.outcome = q.outcome;
      }
      const after = decodeToken(q.page_token, 3);
      if (after) {
        where +=
          " AND (at, outbox_id, attempt) < (parseDateTime64BestEffort({pt:String}, 3, 'UTC'), {pid:String}, {pa:UInt32})";
        params.pt = after[0];
        params.pid = after[1];
        params.pa = Number(after[2]);
      }
      const list = await rows<AttemptRow>(
        ch,
        "SELECT at, outbox_id, alert_id, receiver, kind, attempt, status_code, outcome, error, duration_ms FROM notify_attempts WHERE " +
          where +
          " ORDER BY at DESC, outbox_id DESC, attempt DESC LIMIT {n:UInt32}",
        params,
      );
      const [backlog] = await rows<{ pending: string }>(
        ch,
        "SELECT count() AS pending FROM notify_outbox FINAL WHERE state = 'pending'",
        {},
      );
      const more = list.length > q.page_size;
      const items = list.slice(0, q.page_size).map((r) => ({
        ...r,
        at: iso(r.at),
        attempt: Number(r.attempt),
        status_code: Number(r.status_code),
        duration_ms: Number(r.duration_ms),
      }));
      req.auditRows = items.length;
      const last = list[q.page_size - 1];
      return {
        items,
        pending: Number(backlog?.pending ?? 0),
        next_page_token: more && last ? encodeToken([last.at, last.outbox_id, Number(last.attempt)]) : null,
      };
    },
  );
}
