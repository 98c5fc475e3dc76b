/**
 * Load generator: posts realistic multi-source traffic to a collector at a chosen rate.
 *
 *   node --import tsx bench/gen/index.ts --rate 5000 --seconds 30 --url http://127.0.0.1:8080 --token …
 *
 * Options: --rate events/s (total), --seconds, --batch records per request (400), --sources
 * k8s-audit,vault,cloudtrail,s3-access,gcp-audit,azure-keyvault,minio (default: those whose parser
 * accepts the generated records),
 * --identities 2000, --concurrency 4, --cluster prod, --seed 1. Prints one JSON summary line.
 * Sources are weighted k8s-audit 70 %, the rest shared; each request carries one source's native format.
 */
import { parseArgs } from "node:util";
import { parsers } from "@identrail/sources";
import { GEN_SOURCES, type GenSource, Traffic } from "./traffic";

export { GEN_SOURCES, type GenSource, Traffic } from "./traffic";

/** Sources whose registered parser decodes and accepts what the generator writes (others are left out). */
export function usableSources(wanted: GenSource[] = GEN_SOURCES): GenSource[] {
  const probe = new Traffic({ seed: 99, identities: 10 });
  return wanted.filter((s) => {
    const p = parsers[s];
    if (!p) return false;
    const { records } = p.decode(probe.body(s, 2).text);
    return records.length === 2 && records.every((r) => p.accept(r).ok);
  });
}

export interface GenOptions {
  url: string;
  token: string;
  rate: number;
  seconds: number;
  batch?: number;
  sources?: GenSource[];
  identities?: number;
  concurrency?: number;
  cluster?: string;
  seed?: number;
}

export interface GenSummary {
  sent: number;
  accepted: number;
  rejected: number;
  requests: number;
  failed_requests: number;
  seconds: number;
  events_per_second: number;
  by_source: Record<string, number>;
}

export async function generate(o: GenOptions): Promise<GenSummary> {
  const batch = o.batch ?? 400;
  const sources = o.sources?.length ? o.sources : usableSources();
  const traffic = new Traffic({ identities: o.identities ?? 2000, seed: o.seed ?? 1 });
  const weights = sources.map((s) => (s === "k8s-audit" ? 70 : 30 / Math.max(1, sources.length - 1)));
  const total = weights.reduce((a, b) => a + b, 0);
  let n = 0;
  const pickSource = () => {
    // Deterministic interleave by weight.
    let x = ((n++ * 0.6180339887) % 1) * total;
    for (let i = 0; i < sources.length; i++) {
      x -= weights[i];
      if (x <= 0) return sources[i];
    }
    return sources[0];
  };
  const s: GenSummary = {
    sent: 0,
    accepted: 0,
    rejected: 0,
    requests: 0,
    failed_requests: 0,
    seconds: 0,
    events_per_second: 0,
    by_source: {},
  };
  const started = performance.now();
  const end = started + o.seconds * 1000;
  const interval = (batch / o.rate) * 1000; // ms between requests, over all workers
  let nextAt = started;
  const worker = async () => {
    while (performance.now() < end) {
      const at = nextAt;
      nextAt += interval;
      const wait = at - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (performance.now() >= end) break;
      const source = pickSource();
      const { text, contentType } = traffic.body(source, batch);
      s.sent += batch;
      s.requests++;
      s.by_source[source] = (s.by_source[source] ?? 0) + batch;
      try {
        const res = await fetch(`${o.url}/ingest/${source}?cluster=${o.cluster ?? "prod"}`, {
          method: "POST",
          headers: { authorization: `Bearer ${o.token}`, "content-type": contentType },
          body: text,
        });
        const body = (await res.json().catch(() => ({}))) as { accepted?: number; rejected?: number };
        if (res.status !== 200) s.failed_requests++;
        s.accepted += body.accepted ?? 0;
        s.rejected += body.rejected ?? 0;
      } catch {
        s.failed_requests++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker));
  s.seconds = Math.round((performance.now() - started) / 10) / 100;
  s.events_per_second = Math.round(s.accepted / s.seconds);
  return s;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rate: { type: "string", default: "5000" },
      seconds: { type: "string", default: "30" },
      url: { type: "string", default: "http://127.0.0.1:8080" },
      token: { type: "string", default: process.env.IDENTRAIL_TOKEN ?? "" },
      batch: { type: "string", default: "400" },
      sources: { type: "string" },
      identities: { type: "string", default: "2000" },
      concurrency: { type: "string", default: "4" },
      cluster: { type: "string", default: "prod" },
      seed: { type: "string", default: "1" },
    },
  });
  if (!values.token) {
    console.error("gen: --token (or IDENTRAIL_TOKEN) is required: a bearer token with the ingest scope");
    process.exit(2);
  }
  const summary = await generate({
    url: values.url!,
    token: values.token,
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    batch: Number(values.batch),
    sources: values.sources ? (values.sources.split(",") as GenSource[]) : undefined,
    identities: Number(values.identities),
    concurrency: Number(values.concurrency),
    cluster: values.cluster,
    seed: Number(values.seed),
  });
  console.log(JSON.stringify(summary));
}
