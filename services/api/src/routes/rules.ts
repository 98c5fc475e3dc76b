import type { ClickHouseClient } from "@clickhouse/client";
import type {} from "@fastify/swagger";
import type { Config } from "@identrail/config";
import { RULES } from "@identrail/detector";
import { httpError } from "@identrail/http";
import { SEVERITIES } from "@identrail/schema";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ch64, insertRows, nextVersion, parseQuery, rows } from "../query";

const Patch = z
  .object({ enabled: z.boolean().nullable().optional(), severity: z.enum(SEVERITIES).nullable().optional() })
  .refine((p) => p.enabled !== undefined || p.severity !== undefined, {
    message: "set enabled and/or severity (null clears)",
  });

interface SettingRow {
  rule: string;
  enabled: number;
  severity: string;
  updated_by: string;
  updated_at: string;
}

/**
 * Rule overrides stored by the API (table `rule_settings`, FINAL; enabled 2 = unset, severity '' =
 * unset). API overrides win over the `rules:` config; the detector may poll this function.
 */
export async function ruleOverrides(
  ch: ClickHouseClient,
): Promise<Map<string, { enabled?: boolean; severity?: string }>> {
  const list = await rows<SettingRow>(
    ch,
    "SELECT rule, enabled, severity, updated_by, updated_at FROM rule_settings FINAL",
    {},
  );
  return new Map(
    list.map((r) => [
      r.rule,
      {
        enabled: Number(r.enabled) === 2 ? undefined : Number(r.enabled) === 1,
        severity: r.severity || undefined,
      },
    ]),
  );
}

export async function ruleRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient; config: Config }) {
  const { ch } = opts;
  const view = async () => {
    const overrides = await ruleOverrides(ch);
    return RULES.map((r) => {
      const cfg = opts.config.rules[r.id] ?? {};
      const o = overrides.get(r.id) ?? {};
      return {
        id: r.id,
        title: r.title,
        description: r.description,
        mitre: r.mitre,
        sources: r.sources,
        default_severity: r.severity,
        enabled: o.enabled ?? cfg.enabled ?? true,
        severity: o.severity ?? cfg.severity ?? r.severity,
        override: { enabled: o.enabled ?? null, severity: o.severity ?? null },
      };
    });
  };

  app.get(
    "/api/v1/rules",
    {
      config: { scope: "read" },
      schema: { summary: "Rule catalog with effective settings", tags: ["rules"] },
    },
    async (req) => {
      const items = await view();
      req.auditRows = items.length;
      return { items };
    },
  );

  app.patch<{ Params: { id: string } }>(
    "/api/v1/rules/:id",
    {
      config: { scope: "admin" },
      schema: {
        summary: "Enable/disable a rule or override its severity",
        tags: ["rules"],
        body: z.toJSONSchema(Patch, { io: "input" }),
      },
    },
    async (req) => {
      const b = parseQuery(Patch, req.body);
      if (!RULES.some((r) => r.id === req.params.id)) throw httpError("not_found", "unknown rule");
      const cur = (await ruleOverrides(ch)).get(req.params.id) ?? {};
      const enabled = b.enabled === undefined ? cur.enabled : (b.enabled ?? undefined);
      const severity = b.severity === undefined ? cur.severity : (b.severity ?? undefined);
      await insertRows(ch, "rule_settings", [
        {
          rule: req.params.id,
          enabled: enabled === undefined ? 2 : enabled ? 1 : 0,
          severity: severity ?? "",
          updated_by: req.principal!.name,
          updated_at: ch64(new Date().toISOString()),
          version: nextVersion(),
        },
      ]);
      req.auditRows = 1;
      return (await view()).find((r) => r.id === req.params.id);
    },
  );
}
