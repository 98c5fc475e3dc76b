/** Test helpers: run a body through a parser the way collector + normalizer do. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type NormalizedEvent, NormalizedEvent as NormalizedEventSchema } from "@identrail/schema";
import type { NormalizeContext, SourceParser } from "../src/types";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const corpusDir = path.resolve(repoRoot, "../shared/corpus");
export const fixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

export const CTX: NormalizeContext = { cluster: "prod-eu", receivedAt: "2026-11-24T12:00:00.000Z" };

export function fixture(rel: string): string {
  return readFileSync(path.join(fixturesDir, rel), "utf8");
}

export interface RunResult {
  events: NormalizedEvent[];
  decodeErrors: string[];
  rejected: string[];
  skipped: string[];
  failed: string[];
  /** Records exactly as they left the collector (after accept). */
  wire: unknown[];
}

/** decode → accept → JSON round trip (Kafka) → normalize; every event is checked against the schema. */
export function run(parser: SourceParser, text: string, ctx = CTX): RunResult {
  const out: RunResult = { events: [], decodeErrors: [], rejected: [], skipped: [], failed: [], wire: [] };
  const { records, errors } = parser.decode(text);
  out.decodeErrors = errors.map((e) => e.reason);
  for (const rec of records) {
    const a = parser.accept(rec);
    if (!a.ok) {
      out.rejected.push(a.error);
      continue;
    }
    const wire = JSON.parse(JSON.stringify(a.value.record));
    out.wire.push(wire);
    const n = parser.normalize(wire, ctx);
    if (!n.ok) {
      out.failed.push(n.error);
      continue;
    }
    if (n.value.skipped) out.skipped.push(n.value.skipped);
    for (const e of n.value.events) out.events.push(NormalizedEventSchema.parse(e));
  }
  return out;
}

/** Runs a fixture that must produce exactly one event. */
export function one(parser: SourceParser, text: string, ctx = CTX): NormalizedEvent {
  const r = run(parser, text, ctx);
  if (r.events.length !== 1)
    throw new Error(
      `want 1 event, got ${r.events.length}: ${JSON.stringify({ ...r, wire: undefined, events: r.events.length })}`,
    );
  return r.events[0];
}
