/**
 * Every ingest endpoint end to end: the sources' fixtures (written from vendor docs) and the shared
 * corpus of real samples are posted to their documented endpoints, and the events come back out of
 * ClickHouse under one resolved identity per actor.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Runtime, startRuntime } from "@identrail/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, INGEST_TOKEN, READ_TOKEN, testConfig, waitFor } from "./helpers/runtime";

const ROOT = join(import.meta.dirname, "..");
const FIX = join(ROOT, "packages/sources/test/fixtures");
const CORPUS = join(ROOT, "../shared/corpus");

const cases: [endpoint: string, file: string, contentType: string][] = [
  ["k8s-audit", join(FIX, "k8s-audit/webhook-eventlist.json"), "application/json"],
  ["k8s-audit", join(FIX, "k8s-audit/aks-records.json"), "application/json"],
  ["gcp-audit", join(FIX, "k8s-audit/gke-entries.json"), "application/json"],
  ["vault", join(FIX, "vault/k8s-auth-session.ndjson"), "application/x-ndjson"],
  ["cloudtrail", join(FIX, "cloudtrail/irsa-records.json"), "application/json"],
  ["cloudtrail", join(FIX, "cloudtrail/eventbridge-get-secret-denied.json"), "application/json"],
  ["gcp-audit", join(FIX, "gcp-audit/gcs-data-access.ndjson"), "application/x-ndjson"],
  ["gcp-audit", join(FIX, "gcp-audit/pubsub-access-secret-version.json"), "application/json"],
  ["azure-keyvault", join(FIX, "azure-keyvault/secret-ops.json"), "application/json"],
  ["s3-access", join(FIX, "s3-access/ml-bucket.log"), "text/plain"],
  ["minio", join(FIX, "minio/audit-webhook.ndjson"), "application/x-ndjson"],
  // Real-format variants written from the vendors' docs (packages/sources/test/*-variants.test.ts).
  ["k8s-audit", join(FIX, "k8s-audit/eks-cloudwatch-subscription.json"), "application/json"],
  ["k8s-audit", join(FIX, "k8s-audit/log-backend-variants.ndjson"), "application/x-ndjson"],
  ["k8s-audit", join(FIX, "k8s-audit/legacy-format.log"), "text/plain"],
  ["k8s-audit", join(FIX, "k8s-audit/gke-variants.json"), "application/json"],
  ["k8s-audit", join(FIX, "k8s-audit/aks-storage-pt1h.ndjson"), "application/x-ndjson"],
  ["cloudtrail", join(FIX, "cloudtrail/irsa-session-log-file.json"), "application/json"],
  ["cloudtrail", join(FIX, "cloudtrail/identity-types.ndjson"), "application/x-ndjson"],
  ["cloudtrail", join(FIX, "cloudtrail/s3-data-events.ndjson"), "application/x-ndjson"],
  ["cloudtrail", join(FIX, "cloudtrail/secrets-manager-writes.ndjson"), "application/x-ndjson"],
  ["cloudtrail", join(FIX, "cloudtrail/eventbridge-events.ndjson"), "application/x-ndjson"],
  ["cloudtrail", join(FIX, "cloudtrail/lookup-events-cli.json"), "application/json"],
  ["gcp-audit", join(FIX, "gcp-audit/secret-manager-variants.ndjson"), "application/x-ndjson"],
  ["gcp-audit", join(FIX, "gcp-audit/gcs-variants.ndjson"), "application/x-ndjson"],
  ["gcp-audit", join(FIX, "gcp-audit/iamcredentials-variants.ndjson"), "application/x-ndjson"],
  ["gcp-audit", join(FIX, "gcp-audit/bigquery-export.ndjson"), "application/x-ndjson"],
  ["gcp-audit", join(FIX, "gcp-audit/log-analytics-rows.json"), "application/json"],
  ["azure-keyvault", join(FIX, "azure-keyvault/eventhub-records.json"), "application/json"],
  ["azure-keyvault", join(FIX, "azure-keyvault/storage-pt1h.ndjson"), "application/x-ndjson"],
  ["azure-keyvault", join(FIX, "azure-keyvault/azurediagnostics-az-cli.json"), "application/json"],
  ["azure-keyvault", join(FIX, "azure-keyvault/azkvauditlogs-query-api.json"), "application/json"],
  ["s3-access", join(FIX, "s3-access/real-world-variants.log"), "text/plain"],
  ["vault", join(FIX, "vault/approle-aws-gcp.ndjson"), "application/x-ndjson"],
  ["vault", join(FIX, "vault/ci-jwt-logins.ndjson"), "application/x-ndjson"],
  ["vault", join(FIX, "vault/k8s-login-kv-v1-15.ndjson"), "application/x-ndjson"],
  ["vault", join(FIX, "vault/log-raw-device.ndjson"), "application/x-ndjson"],
  ["vault", join(FIX, "vault/secrets-engines.ndjson"), "application/x-ndjson"],
  ["vault", join(FIX, "vault/shipped-stdout.ndjson"), "application/x-ndjson"],
  ["vault", join(FIX, "vault/sys-token-ops.ndjson"), "application/x-ndjson"],
  ["vault", join(FIX, "vault/syslog-framed.txt"), "text/plain"],
  ["minio", join(FIX, "minio/mixed-generations.ndjson"), "application/x-ndjson"],
  ["minio", join(FIX, "minio/sts-admin-console.ndjson"), "application/x-ndjson"],
];

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime(testConfig());
});
afterAll(async () => {
  await rt?.stop();
});

async function count(query: string, params: Record<string, unknown> = {}) {
  const rs = await rt.store!.ch.query({ query, query_params: params, format: "JSONEachRow" });
  const [row] = (await rs.json()) as { n: number | string }[];
  return Number(row.n);
}

describe("every ingest endpoint, end to end", () => {
  it.each(cases)("/ingest/%s accepts %s", async (endpoint, file, contentType) => {
    const r = await rt.app.inject({
      method: "POST",
      url: `/ingest/${endpoint}?cluster=prod`,
      headers: { ...auth(INGEST_TOKEN), "content-type": contentType },
      payload: readFileSync(file),
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().accepted).toBeGreaterThan(0);
  });

  it("stores events from every source with resolved identities and no normalizer dead letters", async () => {
    const sources = ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault", "s3-access", "minio"];
    await waitFor(
      async () => (await count("SELECT uniqExact(source) AS n FROM events")) === sources.length,
      60_000,
    );
    // Every posted record is normalized before the checks below: the stored count stops moving.
    let last = -1;
    await waitFor(async () => {
      const n = await count("SELECT count() AS n FROM events");
      const settled = n === last;
      last = n;
      if (!settled) await new Promise((r) => setTimeout(r, 1500));
      return settled;
    }, 60_000);
    expect(await count("SELECT count() AS n FROM events WHERE identity_id = ''")).toBe(0);
    expect(await count("SELECT count() AS n FROM dead_letters WHERE stage != 'collector'")).toBe(0);
    // GKE k8s.io entries posted to /ingest/gcp-audit reach the Kubernetes normalizer.
    expect(
      await count(
        "SELECT count() AS n FROM events WHERE source = 'k8s-audit' AND resource_uri LIKE 'k8s://prod/%'",
      ),
    ).toBeGreaterThan(0);
    const alerts = await rt.app.inject({ url: "/api/v1/alerts", headers: auth(READ_TOKEN) });
    expect(alerts.statusCode).toBe(200);
  });

  it("reads the shared corpus through the endpoints without a server error", async () => {
    if (!existsSync(CORPUS)) {
      console.log(`corpus not found at ${CORPUS}: skipping the real-sample replay (CI always has it)`);
      return;
    }
    const corpus: [string, string, string][] = [
      ["k8s-audit", "k8s/audit2rbac_demo_2017_v1beta1.log", "application/x-ndjson"],
      ["k8s-audit", "k8s/elastic_kubernetes_audit_logs_test-audit.log", "application/x-ndjson"],
      ["vault", "vault/elastic_hashicorp_vault_test-audit.log", "application/x-ndjson"],
      ["cloudtrail", "aws/cloudtrail/elastic_cloudtrail_test-copy-object-json.log", "application/json"],
      ["s3-access", "aws/s3_server_access/elastic_aws_s3access_test-s3-server-access.log", "text/plain"],
      ["minio", "minio/minio_audit_examples_extracted.jsonl", "application/x-ndjson"],
      ["azure-keyvault", "azure/azure_keyvault_auditevent_docs_example.json", "application/json"],
      ["gcp-audit", "gcp/elastic_gcp_audit_test-iamcredentials-googleapis-com.log", "application/x-ndjson"],
    ];
    const report: string[] = [];
    for (const [endpoint, file, ct] of corpus) {
      const r = await rt.app.inject({
        method: "POST",
        url: `/ingest/${endpoint}?cluster=corpus`,
        headers: { ...auth(INGEST_TOKEN), "content-type": ct },
        payload: readFileSync(join(CORPUS, file)),
      });
      expect(r.statusCode).toBeLessThan(500);
      report.push(
        `${file}: HTTP ${r.statusCode} accepted=${r.json().accepted} rejected=${r.json().rejected}`,
      );
      expect(r.json().accepted).toBeGreaterThan(0);
    }
    console.log(report.join("\n"));
  });
});
