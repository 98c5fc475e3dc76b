import type { ClickHouseClient } from "@clickhouse/client";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { apiRoutes } from "@identrail/api";
import type { Bus } from "@identrail/bus";
import { ingestRoutes } from "@identrail/collector";
import type { Config } from "@identrail/config";
import { registry } from "@identrail/core";
import { type Authenticate, installErrorHandler } from "@identrail/http";
import { routeRecord } from "@identrail/sources";
import Fastify, { type FastifyInstance } from "fastify";

export type Role = "collector" | "detector" | "api";

export interface AppOptions {
  config: Config;
  roles: ReadonlySet<Role>;
  authenticate: Authenticate;
  bus?: Bus;
  ch?: ClickHouseClient;
  /** Extra readiness checks (detector consumers running …). */
  ready?: () => Promise<boolean>;
  logger?: boolean;
}

/** Builds the HTTP app for the roles this process runs. Tests use it with `app.inject()`. */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ? { level: process.env.LOG_LEVEL ?? "info" } : false,
    bodyLimit: opts.config.ingest.max_body_bytes,
    return503OnClosing: true,
    // Keep ids in URLs intact: an alias may contain ':' and URL-encoded '/'.
    routerOptions: { maxParamLength: 2048 },
  });
  // Request validation is done with zod inside the handlers (clear messages, one source of truth);
  // the JSON schemas on routes feed the OpenAPI document.
  app.setValidatorCompiler(() => () => true);
  installErrorHandler(app);

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Identrail API",
        version: "0.1.0",
        description: "Runtime audit and anomaly detection for non-human identities in ML pipelines.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  app.get("/livez", { schema: { summary: "Liveness", tags: ["health"], security: [] } }, async () => ({
    status: "ok",
  }));
  app.get(
    "/readyz",
    { schema: { summary: "Readiness", tags: ["health"], security: [] } },
    async (_req, reply) => {
      const checks: Record<string, boolean> = {};
      if (opts.bus) checks.bus = await opts.bus.healthy().catch(() => false);
      if (opts.ch)
        checks.clickhouse = await opts.ch
          .ping()
          .then((r) => r.success)
          .catch(() => false);
      if (opts.ready) checks.components = await opts.ready().catch(() => false);
      const ok = Object.values(checks).every(Boolean);
      return reply.status(ok ? 200 : 503).send({ status: ok ? "ok" : "unavailable", checks });
    },
  );
  app.get(
    "/metrics",
    { schema: { summary: "Prometheus metrics", tags: ["health"], security: [] } },
    async (_req, reply) => {
      reply.header("content-type", registry.contentType);
      return registry.metrics();
    },
  );

  if (opts.roles.has("collector")) {
    if (!opts.bus) throw new Error("collector role needs a bus");
    await app.register(ingestRoutes, {
      bus: opts.bus,
      config: opts.config,
      authenticate: opts.authenticate,
      // GKE k8s.io entries posted to /ingest/gcp-audit travel on the Kubernetes topic.
      route: routeRecord,
    });
  }
  if (opts.roles.has("api")) {
    if (!opts.ch) throw new Error("api role needs ClickHouse");
    await app.register(apiRoutes, {
      ch: opts.ch,
      authenticate: opts.authenticate,
      config: opts.config,
      bus: opts.bus,
    });
  }
  return app;
}
