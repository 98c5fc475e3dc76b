/**
 * Parse + normalize per source on one core (this process is single-threaded): decode → accept (the
 * collector's validation + redaction) → normalize (the detector's stage 1), in events per second, against
 * JSON.parse alone of the same bytes. Kubernetes audit uses generated webhook EventLists of 400 events
 * (bench/gen); every other registered parser uses the real vendor samples under ../shared/corpus,
 * repeated to ~2,000 records (skipped, and said so, when the corpus is absent).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parsers, type SourceParser } from "@identrail/sources";
import { Traffic } from "./gen/traffic";
import { type Figure, figure, log, opsPerSecond, ROOT, RUNS, SMALL, writeResult } from "./lib";

const MS = SMALL ? 150 : 600;
const CORPUS = resolve(ROOT, "../shared/corpus");

/** Corpus files per source (test input read in place; never copied into the repo). */
const SAMPLES: Record<string, string[]> = {
  "k8s-audit": ["k8s/audit2rbac_demo_2017_v1beta1.log"],
  vault: [
    "vault/elastic_hashicorp_vault_test-audit.log",
    "vault/vault-guides_k8s_auth_kv_read_extract.jsonl",
  ],
  cloudtrail: ["aws/cloudtrail"],
  "gcp-audit": ["gcp"],
  "azure-keyvault": ["azure"],
  "s3-access": ["aws/s3_server_access"],
  minio: ["minio/minio_audit_examples_extracted.jsonl"],
};

/** One line per record: whole-JSON files are compacted to one line so they can be repeated as NDJSON. */
function corpusLines(source: string): string[] {
  const lines: string[] = [];
  for (const rel of SAMPLES[source] ?? []) {
    const p = join(CORPUS, rel);
    if (!existsSync(p)) continue;
    const files = rel.includes(".") ? [p] : readdirSync(p).map((f) => join(p, f));
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      try {
        lines.push(JSON.stringify(JSON.parse(text)));
      } catch {
        lines.push(...text.split("\n").filter((l) => l.trim()));
      }
    }
  }
  return lines;
}

/** Full parser path over one body; returns the number of events produced. */
function parseNormalize(p: SourceParser, text: string, receivedAt: string): number {
  const { records } = p.decode(text);
  let n = 0;
  for (const rec of records) {
    const a = p.accept(rec);
    if (!a.ok) continue;
    const r = p.normalize(a.value.record, { cluster: "prod", receivedAt });
    if (r.ok) n += r.value.events.length;
  }
  return n;
}

async function main() {
  const figures: Figure[] = [];
  const notes: string[] = [];
  const receivedAt = new Date().toISOString();
  const cases: { what: string; source: string; bodies: string[]; ref: () => number; target?: string }[] = [];

  // Kubernetes audit, webhook EventLists of 400 generated events (many identities, real shape).
  const t = new Traffic({ identities: 5000, seed: 3 });
  const bodies = Array.from({ length: 10 }, () => JSON.stringify(t.k8sEventList(400)));
  cases.push({
    what: "k8s-audit EventList (generated, 400/request)",
    source: "k8s-audit",
    bodies,
    ref: () => {
      let n = 0;
      for (const b of bodies) n += (JSON.parse(b) as { items: unknown[] }).items.length;
      return n;
    },
    target: "≥ 100k events/s/core; ≥ 0.5× JSON.parse",
  });

  if (!existsSync(CORPUS))
    notes.push(`corpus not found at ${CORPUS}: only generated Kubernetes traffic measured`);
  for (const source of Object.keys(parsers)) {
    if (source === "inventory") continue; // object snapshots, not an access log
    const lines = corpusLines(source);
    if (!lines.length) {
      if (existsSync(CORPUS)) notes.push(`${source}: no corpus sample`);
      continue;
    }
    const rep: string[] = [];
    while (rep.length < 2000) rep.push(...lines);
    const body = rep.join("\n") + "\n";
    cases.push({
      what: `${source} (corpus samples, ${lines.length} distinct, repeated to ${rep.length})`,
      source,
      bodies: [body],
      ref: () => {
        let n = 0;
        for (const l of body.split("\n")) {
          if (!l) continue;
          try {
            JSON.parse(l);
          } catch {
            // s3-access lines are not JSON: the reference then costs only the split.
          }
          n++;
        }
        return n;
      },
    });
  }

  for (const c of cases) {
    const p = parsers[c.source as keyof typeof parsers]!;
    const events = c.bodies.reduce((s, b) => s + parseNormalize(p, b, receivedAt), 0);
    if (!events) {
      notes.push(`${c.what}: the parser produced no event from this input; not measured`);
      continue;
    }
    const runs: number[] = [];
    const refs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      runs.push(opsPerSecond(() => c.bodies.reduce((s, b) => s + parseNormalize(p, b, receivedAt), 0), MS));
      refs.push(opsPerSecond(c.ref, MS));
    }
    const f = figure(
      `${c.what}: parse + normalize`,
      "events/s",
      runs,
      { what: "JSON.parse of the same bytes", runs: refs },
      c.target,
    );
    log(`${c.source}: ${f.median} events/s (${f.ratio}× JSON.parse)`);
    figures.push(f);
  }
  writeResult({ name: "parse-normalize", title: "Parse + normalize per source, one core", figures, notes });
}

await main();
