import type { ClickHouseClient } from "@clickhouse/client";
import rateLimit from "@fastify/rate-limit";
import type { Bus } from "@identrail/bus";
import type { Config } from "@identrail/config";
import type { Authenticate } from "@identrail/http";
import { httpError, requireScope } from "@identrail/http";
import type { FastifyInstance } from "fastify";
import { AuditLog, auditHook, auditRoutes } from "./audit";
import { queryLimits } from "./query";
import { alertRoutes } from "./routes/alerts";
import { deadLetterRoutes } from "./routes/dead-letters";
import { eventRoutes } from "./routes/events";
import { identityRoutes } from "./routes/identities";
import { notificationRoutes } from "./routes/notifications";
import { ruleRoutes } from "./routes/rules";
import { suppressionRoutes } from "./routes/suppressions";
import { tokenRoutes } from "./tokens";

export * from "./audit";
export * from "./identity-lookup";
export * from "./query";
export { replayEnvelope } from "./routes/dead-letters";
export { ruleOverrides } from "./routes/rules";
export { activeSuppressions, type SuppressionRow } from "./routes/suppressions";
export * from "./tokens";

export interface ApiOptions {
  ch: ClickHouseClient;
  authenticate: Authenticate;
  config: Config;
  /** Dead-letter replay publishes through it; without it replay answers 503. */
  bus?: Bus;
}

/**
 * Every /api route. Each route declares the scope it needs in `config.scope` (read, respond, admin);
 * one onRequest hook authenticates and checks it before the body is read. A route without a scope
 * is a bug and fails at boot.
 */
export async function apiRoutes(app: FastifyInstance, opts: ApiOptions) {
  const { ch, config } = opts;
  queryLimits.maxExecutionTime = config.clickhouse.max_execution_time;
  queryLimits.maxPageSize = config.api.max_page_size;
  queryLimits.maxRangeMs = config.api.max_range;

  app.addHook("onRoute", (route) => {
    const scope = (route.config as { scope?: string } | undefined)?.scope;
    if (route.method !== "HEAD" && !scope)
      throw new Error(`route ${route.method} ${route.url} declares no scope`);
    // Say it in the OpenAPI document too (bearer schemes carry no scope list in OpenAPI 3.0).
    const schema = (route.schema ?? {}) as { description?: string };
    const prefix = schema.description ? `${schema.description}\n\n` : "";
    route.schema = { ...schema, description: `${prefix}Requires scope \`${scope}\`.` } as never;
  });
  const checks = {
    read: requireScope(opts.authenticate, "read"),
    respond: requireScope(opts.authenticate, "respond"),
    admin: requireScope(opts.authenticate, "admin"),
  };
  app.addHook("onRequest", async (req, reply) => {
    const scope = req.routeOptions.config?.scope;
    // Unknown /api paths still need a token: nothing tells an anonymous caller which routes exist.
    await (checks[scope ?? "read"] ?? checks.admin)(req, reply);
  });

  const audit = new AuditLog(ch);
  app.addHook("onResponse", auditHook(audit));
  app.addHook("onClose", async () => audit.close());

  // Per token (its sha256), after authentication so anonymous floods are refused by the 401 path.
  await app.register(rateLimit, {
    global: true,
    hook: "preHandler",
    max: config.api.rate_limit_per_minute,
    timeWindow: 60_000,
    keyGenerator: (req) => req.principal?.key ?? `ip:${req.ip}`,
  });

  const routeOpts = { bodyLimit: config.api.max_body_bytes };
  await app.register(async (scoped) => {
    scoped.addHook("onRoute", (r) => {
      r.bodyLimit ??= routeOpts.bodyLimit;
    });
    await scoped.register(alertRoutes, { ch });
    await scoped.register(identityRoutes, { ch, dormantAfterMs: config.detector.dormant_after });
    await scoped.register(eventRoutes, { ch });
    await scoped.register(suppressionRoutes, { ch });
    await scoped.register(ruleRoutes, { ch, config });
    await scoped.register(deadLetterRoutes, { ch, bus: opts.bus });
    await scoped.register(notificationRoutes, { ch });
    await scoped.register(tokenRoutes, { ch });
    await scoped.register(auditRoutes, { ch, log: audit, maxRangeMs: config.api.max_range });
  });
  // Unknown /api paths and methods (OPTIONS, a POST on a read route …) land here rather than in the
  // root not-found handler, so they pass the token check first: an anonymous caller gets 401 and
  // cannot probe which routes exist; an authenticated one gets the usual 404 JSON.
  app.all("/api/*", { config: { scope: "read" }, schema: { hide: true } }, async () => {
    throw httpError("not_found");
  });
}
