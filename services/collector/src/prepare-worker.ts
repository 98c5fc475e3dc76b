/**
 * A collector prepare thread (see PreparePool): decompresses, decodes, validates, redacts and envelopes
 * one request body, and posts the result back. Nothing here talks to Kafka or touches metrics; the
 * request's thread publishes and counts, as when it prepares a body itself.
 */
import { parentPort } from "node:worker_threads";
import { parserFor, routeRecord } from "@identrail/sources";
import { prepareBody } from "./prepare";
import type { PrepareReply, PrepareRequest } from "./prepare-pool";

const port = parentPort!;

port.on("message", (req: PrepareRequest) => {
  let reply: PrepareReply;
  try {
    const parser = parserFor(req.source);
    if (!parser) throw new Error("no parser for this source");
    const partitions = new Map(req.partitions);
    const body = Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength);
    const r = prepareBody(
      { bus: { partitionCount: (t) => partitions.get(t) }, route: req.routed ? routeRecord : undefined },
      parser,
      body,
      req.encoding,
      req.cluster,
      req.maxDecompressedBytes,
      req.firehose,
    );
    reply = r.ok ? { id: req.id, ok: true, prepared: r.value } : { id: req.id, ok: false, error: r.error };
  } catch (e) {
    // A bug, never the input's fault: parsers do not throw by contract. Only the message travels back.
    reply = { id: req.id, ok: false, crash: (e as Error)?.message ?? String(e) };
  }
  port.postMessage(reply);
});
