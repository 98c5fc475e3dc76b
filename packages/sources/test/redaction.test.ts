/**
 * Plants known secret values in every format and proves none of them survives `accept()` (what goes to
 * Kafka), `redact()` (what goes to dead letters) or `normalize()` (what goes to ClickHouse).
 */
import { describe, expect, it } from "vitest";
import { parsers } from "../src/index";
import type { SourceParser } from "../src/types";
import { CTX, fixture } from "./helpers";

const PLANT = /PLANTED|UExBTlRFRC/; // UExBTlRFRC… is base64 of "PLANTED…"

function assertClean(parser: SourceParser, text: string, expectPlanted = true) {
  if (expectPlanted) expect(text).toMatch(PLANT);
  const { records } = parser.decode(text);
  expect(records.length).toBeGreaterThan(0);
  let accepted = 0;
  for (const rec of records) {
    const red = parser.redact?.(rec);
    expect(JSON.stringify(red ?? null)).not.toMatch(PLANT);
    const a = parser.accept(rec);
    if (!a.ok) continue;
    accepted++;
    const wire = JSON.stringify(a.value.record);
    expect(wire).not.toMatch(PLANT);
    expect(a.value.key).not.toMatch(PLANT);
    const n = parser.normalize(JSON.parse(wire), CTX);
    expect(JSON.stringify(n)).not.toMatch(PLANT);
  }
  expect(accepted).toBeGreaterThan(0);
}

describe("redaction", () => {
  it("vault: raw tokens and plaintext data (log_raw) are dropped, HMACs kept", () => {
    const text = fixture("vault/log-raw-plaintext.json");
    assertClean(parsers.vault as SourceParser, text);
    const a = (parsers.vault as SourceParser).accept(JSON.parse(text));
    expect(a.ok).toBe(true);
    if (a.ok) {
      const rec = a.value.record as {
        request: { data: Record<string, string> };
        response: { data: { data: Record<string, unknown> } };
        auth: { accessor: string };
      };
      expect(rec.request.data.password).toBe("[redacted]");
      expect(rec.response.data.data.port).toBe("[redacted]");
      // The accessor identifies the token without granting anything; it stays (credential_id).
      expect(rec.auth.accessor).toBe("raw-accessor-1");
    }
    const hmac = fixture("vault/k8s-auth-session.ndjson").split("\n")[3];
    const b = (parsers.vault as SourceParser).accept(JSON.parse(hmac));
    expect(b.ok && JSON.stringify(b.value.record)).toContain("hmac-sha256:");
  });

  it("cloudtrail: STS session tokens, SSE-C keys and secret strings", () => {
    assertClean(parsers.cloudtrail as SourceParser, fixture("cloudtrail/irsa-records.json"));
    const rec = JSON.parse(fixture("cloudtrail/eventbridge-get-secret-denied.json"));
    rec.detail.errorCode = undefined;
    rec.detail.eventName = "PutSecretValue";
    rec.detail.requestParameters = {
      secretId: "prod/db/password",
      secretString: "PLANTED-SM-STRING",
      SecretBinary: "PLANTED-SM-BINARY",
    };
    rec.detail.responseElements = {
      secretString: "PLANTED-SM-RESPONSE",
      nested: [{ password: "PLANTED-NESTED" }],
    };
    assertClean(parsers.cloudtrail as SourceParser, JSON.stringify(rec));
  });

  it("gcp-audit: request/response payloads and GKE Secret bodies", () => {
    const push = JSON.parse(fixture("gcp-audit/pubsub-access-secret-version.json"));
    const entry = JSON.parse(Buffer.from(push.message.data, "base64").toString());
    entry.protoPayload.response = {
      name: entry.protoPayload.resourceName,
      payload: { data: "UExBTlRFRC1HQ1AtUEFZTE9BRA==" },
    };
    entry.protoPayload.request.payload = { data: "PLANTED-REQUEST-PAYLOAD" };
    entry.protoPayload.serviceData = { secret: "PLANTED-SERVICE-DATA" };
    assertClean(parsers["gcp-audit"] as SourceParser, JSON.stringify(entry));
    assertClean(parsers["gcp-audit"] as SourceParser, fixture("k8s-audit/gke-entries.json"));
  });

  it("azure-keyvault: value-like properties", () => {
    assertClean(parsers["azure-keyvault"] as SourceParser, fixture("azure-keyvault/secret-ops.json"));
  });

  it("s3-access: presigned URL signatures and session tokens", () => {
    assertClean(parsers["s3-access"] as SourceParser, fixture("s3-access/ml-bucket.log"));
  });

  it("minio: SigV4 signatures, STS tokens, presigned query credentials", () => {
    const rec = JSON.parse(fixture("minio/audit-webhook.ndjson").split("\n")[0]);
    rec.requestQuery = {
      "X-Amz-Signature": "PLANTED-QUERY-SIG",
      "X-Amz-Security-Token": "PLANTED-QUERY-TOKEN",
      "X-Amz-Credential": "svcacct-TRAINER01%2F20261120%2Fus-east-1%2Fs3%2Faws4_request",
    };
    rec.requestHeader.Cookie = "session=PLANTED-COOKIE";
    assertClean(
      parsers.minio as SourceParser,
      `${fixture("minio/audit-webhook.ndjson")}${JSON.stringify(rec)}\n`,
    );
  });

  it("k8s-audit: Secret bodies in EventList, AKS and GKE wrappers", () => {
    const p = parsers["k8s-audit"] as SourceParser;
    assertClean(p, fixture("k8s-audit/webhook-eventlist.json"));
    assertClean(p, fixture("k8s-audit/gke-entries.json"));
    const aks = JSON.parse(fixture("k8s-audit/aks-records.json"));
    const ev = JSON.parse(aks.records[0].properties.log);
    ev.objectRef = { resource: "secrets", namespace: "ml-train", name: "db", apiVersion: "v1" };
    ev.requestObject = {
      kind: "Secret",
      apiVersion: "v1",
      metadata: { name: "db" },
      stringData: { password: "PLANTED-AKS-SECRET" },
    };
    aks.records[0].properties.log = JSON.stringify(ev);
    assertClean(p, JSON.stringify({ records: [aks.records[0]] }));
  });
});
