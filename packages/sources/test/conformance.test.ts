/**
 * Conformance: every file of the shared corpus (real samples published by other projects, see its
 * README) goes through its parser. Each record must normalize, or be reported unsupported with a
 * reason (decode error, rejected at accept, skipped, or a normalize error); nothing may throw.
 * The corpus is read from ../shared/corpus next to the repository and never copied into it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { NormalizedEvent } from "@identrail/schema";
import { describe, expect, it } from "vitest";
import { parsers } from "../src/index";
import type { SourceParser } from "../src/types";
import { CTX, corpusDir } from "./helpers";

const DIR_PARSER: [string, SourceParser | undefined][] = [
  ["k8s", parsers["k8s-audit"]],
  ["vault", parsers.vault],
  ["aws/cloudtrail", parsers.cloudtrail],
  ["aws/s3_server_access", parsers["s3-access"]],
  ["gcp", parsers["gcp-audit"]],
  ["azure", parsers["azure-keyvault"]],
  ["minio", parsers.minio],
];

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

/** README files embed sample entries among prose: keep the lines that are complete JSON objects. */
function embeddedJsonLines(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => {
      if (!l.startsWith("{")) return false;
      try {
        const v = JSON.parse(l);
        return typeof v === "object" && v !== null && !Array.isArray(v);
      } catch {
        return false;
      }
    })
    .join("\n");
}

interface Row {
  file: string;
  records: number;
  normalized: number;
  events: number;
  skipped: number;
  rejected: number;
  failed: number;
  decodeErrors: number;
  reasons: Set<string>;
}

const present = existsSync(corpusDir);

if (present)
  describe("corpus conformance", () => {
    const rows: Row[] = [];

    for (const [sub, parser] of DIR_PARSER) {
      it(`${sub}: every record normalizes or is reported with a reason`, () => {
        expect(parser, `parser for ${sub}`).toBeDefined();
        const p = parser as SourceParser;
        const files = walk(path.join(corpusDir, sub)).filter((f) => !/COPYING/.test(f));
        expect(files.length).toBeGreaterThan(0);
        for (const f of files) {
          const raw = readFileSync(f, "utf8");
          const text = f.endsWith(".md") ? embeddedJsonLines(raw) : raw;
          const rel = path.relative(corpusDir, f);
          const row: Row = {
            file: rel,
            records: 0,
            normalized: 0,
            events: 0,
            skipped: 0,
            rejected: 0,
            failed: 0,
            decodeErrors: 0,
            reasons: new Set(),
          };
          if (text.trim() === "") {
            row.reasons.add("no embedded JSON entries");
            rows.push(row);
            continue;
          }
          const { records, errors } = p.decode(text);
          row.decodeErrors = errors.length;
          for (const e of errors) {
            expect(e.reason).not.toBe("");
            row.reasons.add(`decode: ${e.reason}`);
          }
          row.records = records.length;
          for (const rec of records) {
            const a = p.accept(rec);
            if (!a.ok) {
              expect(a.error).not.toBe("");
              row.rejected++;
              row.reasons.add(`rejected: ${a.error}`);
              continue;
            }
            const n = p.normalize(JSON.parse(JSON.stringify(a.value.record)), CTX);
            if (!n.ok) {
              expect(n.error).not.toBe("");
              row.failed++;
              row.reasons.add(`normalize: ${n.error}`);
              continue;
            }
            if (n.value.skipped) {
              row.skipped++;
              row.reasons.add(`skipped: ${n.value.skipped}`);
              continue;
            }
            row.normalized++;
            row.events += n.value.events.length;
            for (const e of n.value.events) {
              expect(() => NormalizedEvent.parse(e)).not.toThrow();
              // Only a truly anonymous actor may come without an alias (the resolver then derives one).
              if (e.actor.principal !== "anonymous")
                expect(e.actor.links.length, `${rel}: ${e.actor.principal}`).toBeGreaterThan(0);
            }
          }
          // Every record is accounted for exactly once.
          expect(row.normalized + row.skipped + row.rejected + row.failed).toBe(row.records);
          rows.push(row);
        }
      });
    }

    it("prints the report and pins the outcome of known files", () => {
      const w = Math.max(...rows.map((r) => r.file.length));
      const lines = [
        `${"file".padEnd(w)}  records normalized events skipped rejected failed decode-errors`,
        ...rows.map(
          (r) =>
            `${r.file.padEnd(w)}  ${String(r.records).padStart(7)} ${String(r.normalized).padStart(10)} ${String(r.events).padStart(6)} ${String(r.skipped).padStart(7)} ${String(r.rejected).padStart(8)} ${String(r.failed).padStart(6)} ${String(r.decodeErrors).padStart(13)}${r.reasons.size ? `\n${[...r.reasons].map((x) => `${" ".repeat(w + 2)}- ${x.slice(0, 160)}`).join("\n")}` : ""}`,
        ),
      ];
      console.log(`Corpus conformance report (${corpusDir})\n${lines.join("\n")}`);
      const by = (suffix: string) => rows.find((r) => r.file.endsWith(suffix));
      // audit2rbac 2017: 320 RequestReceived (skipped) + 437 ResponseComplete (normalized).
      expect(by("audit2rbac_demo_2017_v1beta1.log")).toMatchObject({
        records: 757,
        normalized: 437,
        skipped: 320,
      });
      // falco's malformed `{"kind": 0}` regression input is rejected, not crashed on.
      expect(by("fal_01_003.json")).toMatchObject({ rejected: 1, normalized: 0 });
      // elastic test-audit.log: 3 raw Events, 1 GKE entry, 1 AKS record — all normalized.
      expect(by("elastic_kubernetes_audit_logs_test-audit.log")).toMatchObject({ records: 5, normalized: 5 });
      expect(by("elastic_kubernetes_audit_logs_test-kube-audit.log")).toMatchObject({
        records: 1,
        normalized: 1,
      });
      // Vault: 9 file-device entries (5 responses + 4 requests, one request with an error) + 4 KMIP entries.
      expect(by("elastic_hashicorp_vault_test-audit.log")).toMatchObject({ records: 13, rejected: 4 });
      expect(by("vault-guides_k8s_auth_kv_read_extract.jsonl")).toMatchObject({ normalized: 1 });
      for (const f of [
        "get-secret-value-json.log",
        "batch-get-secret-value-json.log",
        "copy-object-json.log",
        "put-object-json.log",
        "assume-role-email-session-json.log",
      ]) {
        expect(by(f)).toMatchObject({ normalized: 1, rejected: 0, failed: 0 });
      }
      expect(by("elastic_cloudtrail_test-batch-get-secret-value-json.log")?.events).toBe(2);
      expect(by("awsdocs_LogFormat_examples.log")).toMatchObject({ records: 5, normalized: 5 });
      expect(by("elastic_aws_s3access_test-s3-server-access.log")).toMatchObject({
        records: 10,
        normalized: 10,
      });
      expect(by("elastic_gcp_audit_test-iamcredentials-googleapis-com.log")).toMatchObject({ normalized: 1 });
      expect(by("azure_keyvault_auditevent_docs_example.json")).toMatchObject({ normalized: 1 });
      expect(by("minio_audit_examples_extracted.jsonl")).toMatchObject({ records: 4, normalized: 4 });
    });
  });

if (!present)
  describe("corpus conformance", () => {
    it("is skipped because ../shared/corpus is absent", () => {
      console.log(`corpus not found at ${corpusDir}: conformance against real samples did not run`);
      expect(present).toBe(false);
    });
  });
