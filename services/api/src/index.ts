import type { ClickHouseClient } from "@clickhouse/client";
import type { Authenticate } from "@identrail/http";
import { requireScope } from "@identrail/http";
import type { FastifyInstance } from "fastify";
import { alertRoutes } from "./routes/alerts";
import { identityRoutes } from "./routes/identities";

export * from "./identity-lookup";
export * from "./query";

/** Every /api route; each needs a bearer token with scope `read` (write routes add their own scopes). */
export async function apiRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient; authenticate: Authenticate }) {
  app.addHook("onRequest", requireScope(opts.authenticate, "read"));
  await app.register(alertRoutes, { ch: opts.ch });
  await app.register(identityRoutes, { ch: opts.ch });
}
