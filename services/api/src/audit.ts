import type { ClickHouseClient } from "@clickhouse/client";
import { counter, logger } from "@identrail/core";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { listRoute } from "./list-route";
import {
  ch64,
  equalsWhere,
  FilterText,
  iso,
  keysetWhere,
  pageFields,
  pageOf,
  rangeFields,
  rangeWhere,
  rows,
  timeRange,
} from "./query";

const auditDropped = counter(
  "identrail_api_audit_dropped_total",
  "API audit rows that could not be written after retries",
  [],
);

interface AuditRow {
  at: string;
  request_id: string;
  actor: string;
  via: string;
  method: string;
  route: string;
  params: string;
  status: number;
  rows: number;
  duration_ms: number;
  ip: string;
}

/**
 * Buffers audit rows and writes them in small batches (one INSERT per request would make many tiny
 * parts in a MergeTree). Flushed every second, before an audit query and on close.
 */
export class AuditLog {
  private buf: AuditRow[] = [];
  private timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  constructor(private ch: ClickHouseClient) {
    this.timer = setInterval(() => void this.flush(), 1000);
    this.timer.unref();
  }
  add(r: AuditRow) {
    this.buf.push(r);
    if (this.buf.length >= 500) void this.flush();
  }
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (!this.buf.length) return;
      const batch = this.buf;
      this.buf = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await this.ch.insert({ table: "api_audit", values: batch, format: "JSONEachRow" });
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        }
      }
      auditDropped.inc(batch.length);
      logger.error({ rows: batch.length }, "api audit rows dropped after retries");
    });
    return this.flushing;
  }
  async close() {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Path params and query string of a request; bodies are never audited (they may hold comments or secrets). */
function auditParams(req: FastifyRequest): string {
  const p: Record<string, unknown> = {};
  if (req.params && typeof req.params === "object" && Object.keys(req.params).length) p.params = req.params;
  if (req.query && typeof req.query === "object" && Object.keys(req.query).length) p.query = req.query;
  return JSON.stringify(p).slice(0, 4096);
}

export function auditHook(log: AuditLog) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    log.add({
      at: ch64(new Date().toISOString()),
      request_id: String(req.id),
      actor: req.principal?.name ?? "",
      via: req.principal?.via ?? "none",
      method: req.method,
      route: req.routeOptions.url ?? req.url.split("?")[0].slice(0, 512),
      params: auditParams(req),
      status: reply.statusCode,
      rows: req.auditRows ?? 0,
      duration_ms: Math.round(reply.elapsedTime),
      ip: req.ip,
    });
  };
}

const AuditQuery = z.object({
  ...rangeFields,
  actor: FilterText(256).optional(),
  route: FilterText(512).optional(),
  status: z.coerce.number().int().min(100).max(599).optional(),
  ...pageFields,
});

export async function auditRoutes(
  app: FastifyInstance,
  opts: { ch: ClickHouseClient; log: AuditLog; maxRangeMs: number },
) {
  const { ch } = opts;
  listRoute(
    app,
    "/api/v1/audit",
    { scope: "admin", summary: "API audit log (newest first)", tags: ["admin"] },
    AuditQuery,
    async (q) => {
      const range = timeRange(q.from, q.to, opts.maxRangeMs, 7 * 86_400_000);
      await opts.log.flush();
      const params: Record<string, unknown> = { n: q.page_size + 1 };
      let where =
        rangeWhere("at", range, params) + equalsWhere(q, { actor: "actor", route: "route" }, params);
      if (q.status !== undefined) {
        where += " AND status = {status:UInt16}";
        params.status = q.status;
      }
      where += keysetWhere(q.page_token, { time: "at", id: "request_id" }, params);
      const list = await rows<AuditRow>(
        ch,
        "SELECT at, request_id, actor, via, method, route, params, status, rows, duration_ms, ip FROM api_audit WHERE " +
          where +
          " ORDER BY at DESC, request_id DESC LIMIT {n:UInt32}",
        params,
      );
      const page = pageOf(
        list,
        q.page_size,
        (r) => ({ ...r, at: iso(r.at), status: Number(r.status), rows: Number(r.rows) }),
        (last) => [last.at, last.request_id],
      );
      return page;
    },
  );
}
