import { AppError, type ErrorCatalog, makeErrors } from "@identrail/core";
import type { FastifyError, FastifyInstance } from "fastify";

/** HTTP error catalog shared by the collector and API routes: stable codes clients can branch on. */
export const HTTP_ERRORS = {
  unauthorized: { status: 401, retryable: false, message: "missing or invalid bearer token" },
  token_expired: { status: 401, retryable: false, message: "token expired" },
  forbidden: { status: 403, retryable: false, message: "token lacks the required scope" },
  not_found: { status: 404, retryable: false, message: "not found" },
  bad_request: { status: 400, retryable: false, message: "bad request" },
  invalid_body: { status: 400, retryable: false, message: "request body is not usable" },
  payload_too_large: { status: 413, retryable: false, message: "request body exceeds the limit" },
  unsupported_media_type: { status: 415, retryable: false, message: "unsupported content type" },
  unsupported_encoding: { status: 415, retryable: false, message: "unsupported content encoding" },
  rate_limited: { status: 429, retryable: true, message: "rate limit exceeded" },
  bus_unavailable: { status: 503, retryable: true, message: "event bus unavailable; nothing was accepted" },
  store_unavailable: { status: 503, retryable: true, message: "storage unavailable" },
  collector_busy: {
    status: 503,
    retryable: true,
    message: "collector is at capacity; nothing was accepted, retry later",
  },
  conflict: { status: 409, retryable: false, message: "conflict" },
  internal: { status: 500, retryable: true, message: "internal error" },
} satisfies ErrorCatalog<string>;
export type HttpErrorCode = keyof typeof HTTP_ERRORS;
export const httpError = makeErrors(HTTP_ERRORS);

/** Maps fastify's own errors onto the catalog; never echoes request content back. */
export function installErrorHandler(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError | AppError, req, reply) => {
    let e: AppError;
    if (error instanceof AppError) e = error;
    else {
      const code = (error as FastifyError).code;
      if (code === "FST_ERR_CTP_BODY_TOO_LARGE") e = httpError("payload_too_large");
      else if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") e = httpError("unsupported_media_type");
      else if (code === "FST_ERR_CTP_EMPTY_JSON_BODY") e = httpError("invalid_body", "empty body");
      else if (code === "FST_ERR_CTP_INVALID_JSON_BODY" || (error as any).type === "entity.parse.failed")
        e = httpError("invalid_body", "malformed JSON");
      else if ((error as FastifyError).validation) e = httpError("bad_request", error.message);
      else if ((error as FastifyError).statusCode === 429) e = httpError("rate_limited");
      else if ((error as FastifyError).statusCode && (error as FastifyError).statusCode! < 500)
        e = httpError("bad_request", error.message);
      else {
        req.log.error({ err: { message: error.message, code } }, "unhandled error");
        e = httpError("internal");
      }
    }
    reply.status(e.entry.status).send(e.toJSON());
  });
  app.setNotFoundHandler((_req, reply) => {
    const e = httpError("not_found");
    reply.status(404).send(e.toJSON());
  });
}
