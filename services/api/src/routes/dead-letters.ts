import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import type { Bus } from "@identrail/bus";
import { httpError } from "@identrail/http";
import { SourceName, Topics } from "@identrail/schema";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  ch64,
  decodeToken,
  encodeToken,
  FilterText,
  insertRows,
  iso,
  PageSize,
  parseQuery,
  queryLimits,
  Rfc3339,
  rows,
  timeRange,
} from "../query";

const ListQuery = z.object({
  from: Rfc3339.optional(),
  to: Rfc3339.optional(),
  stage: FilterText(32).optional(),
  source: FilterText(64).optional(),
  replayed: z.enum(["true", "false"]).optional(),
  page_size: PageSize,
  page_token: z.string().max(2048).optional(),
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

  app.get(
    "/api/v1/dead-letters",
    {
      config: admin,
      schema: {
        summary: "List dead letters (without payloads)",
        tags: ["dead-letters"],
        querystring: z.toJSONSchema(ListQuery, { io: "input" }),
      },
    },
    async (req) => {
      const q = parseQuery(ListQuery, req.query);
      const { from, to } = timeRange(q.from, q.to, queryLimits.maxRangeMs, 7 * 86_400_000);
      const params: Record<string, unknown> = { from: ch64(from), to: ch64(to), n: q.page_size + 1 };
      let where =
        "time >= parseDateTime64BestEffort({from:String}, 3, 'UTC') AND time < parseDateTime64BestEffort({to:String}, 3, 'UTC')";
      if (q.stage !== undefined) {
        where += " AND stage = {stage:String}";
        params.stage = q.stage;
      }
      if (q.source !== undefined) {
        where += " AND source = {source:String}";
        params.source = q.source;
      }
      if (q.replayed !== undefined)
        where += q.replayed === "true" ? " AND replayed_at IS NOT NULL" : " AND replayed_at IS NULL";
      const after = decodeToken(q.page_token, 2);
      if (after) {
        where += " AND (time, id) < (parseDateTime64BestEffort({pt:String}, 3, 'UTC'), {pid:String})";
        params.pt = after[0];
        params.pid = after[1];
      }
      const list = await rows<DlRow>(
        ch,
        "SELECT id, time, stage, source, reason, payload, replayed_at FROM dead_letters FINAL WHERE " +
          where +
          " ORDER BY time DESC, id DESC LIMIT {n:UInt32}",
        params,
      );
      const more = list.length > q.page_size;
      const items = list.slice(0, q.page_size).map((r) => json(r, false));
      req.auditRows = items.length;
      const last = list[q.page_size - 1];
      return { items, next_page_token: more && last ? encodeToken([last.time, last.id]) : null };
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
