import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import type { Bus } from "@identrail/bus";
import { httpError } from "@identrail/http";
import { SourceName, Topics } from "@identrail/schema";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { listRoute } from "../list-route";
import {
  ch64,
  equalsWhere,
  FilterText,
  insertRows,
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

const ListQuery = z.object({
  ...rangeFields,
  stage: FilterText(32).optional(),
  source: FilterText(64).optional(),
  replayed: z.enum(["true", "false"]).optional(),
  ...pageFields,
});

interface DlRow {
  id: string;
  time: string;
  stage: string;
  source: string;
  reason: string;
  payload: string;
  replayed_at: string | null;
}

const json = (r: DlRow, withPayload: boolean) => ({
  id: r.id,
  time: iso(r.time),
  stage: r.stage,
  source: r.source,
  reason: r.reason,
  replayed_at: r.replayed_at ? iso(r.replayed_at) : null,
  payload_bytes: Buffer.byteLength(r.payload),
  ...(withPayload ? { payload: r.payload } : {}),
});

/** Rebuilds the raw envelope for a dead letter: stored payloads are the (redacted) source record, or a whole envelope. */
export function replayEnvelope(
  r: Pick<DlRow, "source" | "payload">,
): { source: SourceName; value: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(r.payload);
  } catch {
    return undefined; // empty or truncated payloads cannot be replayed
  }
  if (v && typeof v === "object" && (v as { v?: unknown }).v === 1) {
    const s = SourceName.safeParse((v as { source?: unknown }).source);
    return s.success ? { source: s.data, value: r.payload } : undefined;
  }
  const s = SourceName.safeParse(r.source);
  if (!s.success) return undefined;
  return {
    source: s.data,
    value: JSON.stringify({
      v: 1,
      source: s.data,
      cluster: "",
      received_at: new Date().toISOString(),
      record: v,
    }),
  };
}

export async function deadLetterRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient; bus?: Bus }) {
  const { ch } = opts;
  const admin = { scope: "admin" as const };
  const load = async (id: string) => {
    const [r] = await rows<DlRow>(
      ch,
      "SELECT id, time, stage, source, reason, payload, replayed_at FROM dead_letters FINAL WHERE id = {id:String} LIMIT 1",
      { id },
    );
    if (!r) throw httpError("not_found", "unknown dead letter");
    return r;
  };

  listRoute(
    app,
    "/api/v1/dead-letters",
    { scope: "admin", summary: "List dead letters (without payloads)", tags: ["dead-letters"] },
    ListQuery,
    async (q) => {
      const params: Record<string, unknown> = { n: q.page_size + 1 };
      let where =
        rangeWhere("time", timeRange(q.from, q.to, queryLimits.maxRangeMs, 7 * 86_400_000), params) +
        equalsWhere(q, { stage: "stage", source: "source" }, params);
      if (q.replayed !== undefined)
        where += q.replayed === "true" ? " AND replayed_at IS NOT NULL" : " AND replayed_at IS NULL";
      where += keysetWhere(q.page_token, { time: "time", id: "id" }, params);
      const list = await rows<DlRow>(
        ch,
        "SELECT id, time, stage, source, reason, payload, replayed_at FROM dead_letters FINAL WHERE " +
          where +
          " ORDER BY time DESC, id DESC LIMIT {n:UInt32}",
        params,
      );
      const page = pageOf(
        list,
        q.page_size,
        (r) => json(r, false),
        (last) => [last.time, last.id],
      );
      return page;
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/v1/dead-letters/:id",
    {
      config: admin,
      schema: { summary: "Inspect one dead letter: reason and redacted payload", tags: ["dead-letters"] },
    },
    async (req) => {
      req.auditRows = 1;
      return json(await load(req.params.id), true);
    },
  );

  app.post<{ Params: { id: string } }>(
    "/api/v1/dead-letters/:id/replay",
    {
      config: admin,
      schema: {
        summary: "Re-publish a dead letter to its raw topic (after a parser fix)",
        tags: ["dead-letters"],
      },
    },
    async (req, reply) => {
      const r = await load(req.params.id);
      if (!opts.bus)
        throw httpError(
          "bus_unavailable",
          "this process runs without a bus; replay from a process with the collector role",
        );
      const env = replayEnvelope(r);
      if (!env)
        throw httpError(
          "conflict",
          "payload is empty, truncated or of an unknown source; it cannot be replayed",
        );
      try {
        await opts.bus.produce(Topics.raw(env.source), [{ key: `replay:${r.id}`, value: env.value }]);
      } catch {
        throw httpError("bus_unavailable");
      }
      const replayed_at = ch64(new Date().toISOString());
      // Same sort key (time, id): ReplacingMergeTree keeps this newer row.
      await insertRows(ch, "dead_letters", [{ ...r, replayed_at }]);
      req.auditRows = 1;
      return reply.status(202).send(json({ ...r, replayed_at }, false));
    },
  );
}
