/**
 * Property: no parser throws on any input — arbitrary JSON, arbitrary text/lines, and mutations of
 * the valid fixtures — and whatever it does emit satisfies the NormalizedEvent schema and serializes.
 */
import { NormalizedEvent } from "@identrail/schema";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parsers } from "../src/index";
import type { SourceParser } from "../src/types";
import { CTX, fixture } from "./helpers";

const MINE = [
  "k8s-audit",
  "vault",
  "cloudtrail",
  "gcp-audit",
  "azure-keyvault",
  "s3-access",
  "minio",
] as const;
const SEEDS: Record<(typeof MINE)[number], string[]> = {
  "k8s-audit": [
    "k8s-audit/webhook-eventlist.json",
    "k8s-audit/aks-records.json",
    "k8s-audit/gke-entries.json",
    "k8s-audit/log-backend-variants.ndjson",
    "k8s-audit/eks-cloudwatch-subscription.json",
    "k8s-audit/gke-variants.json",
    "k8s-audit/aks-storage-pt1h.ndjson",
  ],
  vault: [
    "vault/k8s-auth-session.ndjson",
    "vault/log-raw-plaintext.json",
    "vault/approle-aws-gcp.ndjson",
    "vault/ci-jwt-logins.ndjson",
    "vault/secrets-engines.ndjson",
    "vault/sys-token-ops.ndjson",
  ],
  cloudtrail: [
    "cloudtrail/irsa-records.json",
    "cloudtrail/eventbridge-get-secret-denied.json",
    "cloudtrail/irsa-session-log-file.json",
    "cloudtrail/identity-types.ndjson",
    "cloudtrail/s3-data-events.ndjson",
    "cloudtrail/secrets-manager-writes.ndjson",
  ],
  "gcp-audit": [
    "gcp-audit/gcs-data-access.ndjson",
    "gcp-audit/pubsub-access-secret-version.json",
    "k8s-audit/gke-entries.json",
    "gcp-audit/secret-manager-variants.ndjson",
    "gcp-audit/iamcredentials-variants.ndjson",
    "gcp-audit/bigquery-export.ndjson",
  ],
  "azure-keyvault": [
    "azure-keyvault/secret-ops.json",
    "azure-keyvault/eventhub-records.json",
    "azure-keyvault/azurediagnostics-az-cli.json",
  ],
  "s3-access": ["s3-access/ml-bucket.log", "s3-access/real-world-variants.log"],
  minio: ["minio/audit-webhook.ndjson", "minio/mixed-generations.ndjson", "minio/sts-admin-console.ndjson"],
};
// PROPERTY_RUNS raises the count for a longer hunt; the default keeps the suite quick.
const RUNS = Number(process.env.PROPERTY_RUNS) || 150;

/** Runs the whole pipeline on text; throws (failing the property) only if a parser throws or emits a bad event. */
function exercise(p: SourceParser, text: string): void {
  const { records } = p.decode(text);
  for (const rec of records) exerciseRecord(p, rec);
}
function exerciseRecord(p: SourceParser, rec: unknown): void {
  p.redact?.(rec);
  const a = p.accept(rec);
  const input = a.ok ? JSON.parse(JSON.stringify(a.value.record)) : rec;
  if (a.ok) expect(typeof a.value.key).toBe("string");
  const n = p.normalize(input, CTX);
  if (n.ok) for (const e of n.value.events) NormalizedEvent.parse(JSON.parse(JSON.stringify(e)));
  else expect(n.error.length).toBeGreaterThan(0);
}

/** All paths to values inside a JSON value (bounded). */
function paths(
  v: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (out.length > 400) return out;
  out.push(prefix);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) paths(v[i], [...prefix, i], out);
  } else if (v && typeof v === "object")
    for (const k of Object.keys(v)) paths((v as Record<string, unknown>)[k], [...prefix, k], out);
  return out;
}
function setPath(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  let cur = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (value === undefined && !Array.isArray(cur)) delete cur[last];
  else cur[last] = value;
  return root;
}

const interesting = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(
    undefined,
    null,
    "",
    "-",
    "1970-01-01T00:00:00Z",
    "2999-01-01T00:00:00Z",
    2 ** 60,
    -1,
    1e308,
    "__proto__",
    "system:serviceaccount:a:b",
    "arn:aws:sts::123456789012:assumed-role/r/s",
    "projects/_/buckets/b/objects/o",
    "https://v.vault.azure.net/secrets/s/1",
    { __proto__: null },
    [[[[[]]]]],
  ),
  fc.string({ unit: "binary", maxLength: 64 }),
);

describe.each(MINE.map((m) => [m, parsers[m] as SourceParser] as const))(
  "property: %s never throws",
  (name, p) => {
    it("arbitrary JSON documents and NDJSON", () => {
      fc.assert(
        fc.property(
          fc.array(fc.jsonValue({ maxDepth: 6 }), { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          (docs, asNdjson) => {
            const text = asNdjson
              ? docs.map((d) => JSON.stringify(d)).join("\n")
              : JSON.stringify(docs.length === 1 ? docs[0] : docs);
            exercise(p, text);
          },
        ),
        { numRuns: RUNS },
      );
    });

    it("arbitrary records passed straight to accept/normalize/redact", () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => exerciseRecord(p, v)),
        { numRuns: RUNS },
      );
    });

    it("arbitrary text and lines", () => {
      fc.assert(
        fc.property(fc.array(fc.string({ unit: "binary", maxLength: 300 }), { maxLength: 6 }), (lines) =>
          exercise(p, lines.join("\n")),
        ),
        { numRuns: RUNS },
      );
    });

    const seeds = SEEDS[name].map((f) => fixture(f));
    it("mutated fixtures (values replaced, keys deleted, text cut)", () => {
      const seedRecords = seeds.flatMap((t) => p.decode(t).records.map((r) => JSON.stringify(r)));
      expect(seedRecords.length).toBeGreaterThan(0);
      fc.assert(
        fc.property(
          fc.nat(seedRecords.length - 1),
          fc.array(fc.tuple(fc.nat(), interesting), { minLength: 1, maxLength: 4 }),
          (i, edits) => {
            let rec: unknown = JSON.parse(seedRecords[i]);
            for (const [pi, value] of edits) {
              const ps = paths(rec);
              // Cloned: one generated value inserted twice could otherwise form a cycle, which JSON cannot.
              rec = setPath(
                rec,
                ps[pi % ps.length],
                value === undefined ? undefined : structuredClone(value),
              );
            }
            exerciseRecord(p, rec);
            // The mutated record as a body (what a client could send), for the text-level decoders too.
            const t = JSON.stringify(rec);
            if (t !== undefined) exercise(p, t);
          },
        ),
        { numRuns: RUNS * 2 },
      );
      fc.assert(
        fc.property(
          fc.nat(seeds.length - 1),
          fc.nat(),
          fc.string({ unit: "binary", maxLength: 20 }),
          (i, cut, junk) => {
            const t = seeds[i];
            const at = cut % (t.length + 1);
            exercise(p, t.slice(0, at) + junk + t.slice(at));
          },
        ),
        { numRuns: RUNS },
      );
    });
  },
);
