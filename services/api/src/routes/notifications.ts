import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
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

const Query = z.object({
  ...rangeFields,
  alert: FilterText(256).optional(),
  receiver: FilterText(64).optional(),
  outcome: z.enum(["delivered", "retry", "failed"]).optional(),
  ...pageFields,
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
  listRoute(
    app,
    "/api/v1/notifications",
    { scope: "read", summary: "Notification delivery attempts", tags: ["notifications"] },
    Query,
    async (q) => {
      const params: Record<string, unknown> = { n: q.page_size + 1 };
      const where =
        rangeWhere("at", timeRange(q.from, q.to, queryLimits.maxRangeMs, 7 * 86_400_000), params) +
        equalsWhere(q, { alert: "alert_id", receiver: "receiver", outcome: "outcome" }, params) +
        keysetWhere(q.page_token, { time: "at", id: "outbox_id", seq: "attempt" }, params);
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
      const page = pageOf(
        list,
        q.page_size,
        (r) => ({
          ...r,
          at: iso(r.at),
          attempt: Number(r.attempt),
          status_code: Number(r.status_code),
          duration_ms: Number(r.duration_ms),
        }),
        (last) => [last.at, last.outbox_id, Number(last.attempt)],
      );
      return {
        items: page.items,
        pending: Number(backlog?.pending ?? 0),
        next_page_token: page.next_page_token,
      };
    },
  );
}
