import type {} from "@fastify/swagger";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { parseQuery } from "./query";

/**
 * One paginated GET listing: the query schema is both the validator (zod, first bad field named) and
 * the OpenAPI `querystring`, so the document cannot drift from what the handler accepts. The rows
 * returned are counted for the audit log.
 */
export function listRoute<S extends z.ZodType, P = Record<string, never>>(
  app: FastifyInstance,
  url: string,
  meta: {
    scope: "read" | "admin";
    summary: string;
    tags: string[];
    /** JSON schema of the 200 body: documented, and fastify compiles a serializer from it. */
    response?: Record<string, unknown>;
  },
  query: S,
  handler: (q: z.infer<S>, req: FastifyRequest<{ Params: P }>) => Promise<{ items: unknown[] }>,
) {
  app.get<{ Params: P }>(
    url,
    {
      config: { scope: meta.scope },
      schema: {
        summary: meta.summary,
        tags: meta.tags,
        querystring: z.toJSONSchema(query, { io: "input" }) as Record<string, unknown>,
        ...(meta.response ? { response: { 200: meta.response } } : {}),
      },
    },
    async (req) => {
      const body = await handler(parseQuery(query, req.query), req);
      req.auditRows = body.items.length;
      return body;
    },
  );
}
