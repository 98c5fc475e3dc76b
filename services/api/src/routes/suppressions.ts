import { randomUUID } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import { httpError } from "@identrail/http";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ch64, FilterText, insertRows, iso, nextVersion, parseQuery, Rfc3339, rows } from "../query";

const CreateSuppression = z
  .object({
    rule: z.string().max(128).default(""),
    /** Canonical identity id or glob over it (the detector's config semantics). */
    identity: z.string().max(1024).default(""),
    namespace: z.string().max(253).default(""),
    resource: z.string().max(2048).default(""),
    reason: z.string().min(1).max(2048),
    until: Rfc3339.optional(),
  })
  .refine((s) => s.rule || s.identity || s.namespace || s.resource, {
    message: "a suppression needs rule, identity, namespace or resource",
  });

const ListQuery = z.object({
  /** Also list expired and deleted suppressions. */
  all: z.enum(["true", "false"]).default("false"),
  rule: FilterText(128).optional(),
});

export interface SuppressionRow {
  id: string;
  rule: string;
  identity: string;
  namespace: string;
  resource: string;
  reason: string;
  created_by: string;
  created_at: string;
  until: string | null;
  deleted: number;
  updated_at: string;
}

const COLUMNS =
  "id, rule, identity, namespace, resource, reason, created_by, created_at, until, deleted, updated_at";

/**
 * Active API-managed suppressions, for the detector to poll alongside its config suppressions
 * (table `suppressions`, ReplacingMergeTree(version); active = deleted = 0 AND (until IS NULL OR until > now)).
 */
export async function activeSuppressions(ch: ClickHouseClient): Promise<SuppressionRow[]> {
  return rows<SuppressionRow>(
    ch,
    "SELECT " +
      COLUMNS +
      " FROM suppressions FINAL WHERE deleted = 0 AND (until IS NULL OR until > now64(3)) ORDER BY created_at, id LIMIT 100000",
    {},
  );
}

const json = (r: SuppressionRow) => ({
  id: r.id,
  rule: r.rule,
  identity: r.identity,
  namespace: r.namespace,
  resource: r.resource,
  reason: r.reason,
  created_by: r.created_by,
  created_at: iso(r.created_at),
  until: r.until ? iso(r.until) : null,
  deleted: Boolean(Number(r.deleted)),
  active: !Number(r.deleted) && (!r.until || Date.parse(iso(r.until)) > Date.now()),
});

export async function suppressionRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient }) {
  const { ch } = opts;
  const load = async (id: string) => {
    const [r] = await rows<SuppressionRow>(
      ch,
      "SELECT " + COLUMNS + " FROM suppressions FINAL WHERE id = {id:String} LIMIT 1",
      { id },
    );
    if (!r || Number(r.deleted)) throw httpError("not_found", "unknown suppression");
    return r;
  };
  const write = (r: SuppressionRow) =>
    insertRows(ch, "suppressions", [
      { ...r, updated_at: ch64(new Date().toISOString()), version: nextVersion() },
    ]);

  app.get(
    "/api/v1/suppressions",
    {
      config: { scope: "read" },
      schema: {
        summary: "List suppressions (active unless all=true)",
        tags: ["suppressions"],
        querystring: z.toJSONSchema(ListQuery, { io: "input" }),
      },
    },
    async (req) => {
      const q = parseQuery(ListQuery, req.query);
      const params: Record<string, unknown> = {};
      let where = q.all === "true" ? "1 = 1" : "deleted = 0 AND (until IS NULL OR until > now64(3))";
      if (q.rule !== undefined) {
        where += " AND rule = {rule:String}";
        params.rule = q.rule;
      }
      const list = await rows<SuppressionRow>(
        ch,
        "SELECT " +
          COLUMNS +
          " FROM suppressions FINAL WHERE " +
          where +
          " ORDER BY created_at DESC, id LIMIT 10000",
        params,
      );
      req.auditRows = list.length;
      return { items: list.map(json) };
    },
  );

  app.post(
    "/api/v1/suppressions",
    {
      config: { scope: "respond" },
      schema: {
        summary: "Create a suppression",
        tags: ["suppressions"],
        body: z.toJSONSchema(CreateSuppression, { io: "input" }),
      },
    },
    async (req, reply) => {
      const b = parseQuery(CreateSuppression, req.body);
      const now = ch64(new Date().toISOString());
      const r: SuppressionRow = {
        id: randomUUID(),
        rule: b.rule,
        identity: b.identity,
        namespace: b.namespace,
        resource: b.resource,
        reason: b.reason,
        created_by: req.principal!.name,
        created_at: now,
        until: b.until ? ch64(b.until) : null,
        deleted: 0,
        updated_at: now,
      };
      await write(r);
      req.auditRows = 1;
      return reply.status(201).send(json(r));
    },
  );

  app.post<{ Params: { id: string } }>(
    "/api/v1/suppressions/:id/expire",
    {
      config: { scope: "respond" },
      schema: { summary: "Expire a suppression now (kept for the record)", tags: ["suppressions"] },
    },
    async (req) => {
      const r = { ...(await load(req.params.id)), until: ch64(new Date().toISOString()) };
      await write(r);
      req.auditRows = 1;
      return json(r);
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/api/v1/suppressions/:id",
    { config: { scope: "respond" }, schema: { summary: "Delete a suppression", tags: ["suppressions"] } },
    async (req, reply) => {
      await write({ ...(await load(req.params.id)), deleted: 1 });
      req.auditRows = 1;
      return reply.status(204).send();
    },
  );
}
