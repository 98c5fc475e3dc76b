/**
 * Cloud Audit Logs as Google writes them in the places a user exports them from: Secret Manager and GCS
 * Data Access entries, IAM Credentials token minting, and the same entries as BigQuery sink rows, Log
 * Analytics rows, Pub/Sub pull responses and Eventarc CloudEvents. Fixtures are written from the LogEntry
 * and AuditLog references (redacted: example.com, 192.0.2.x, 2001:db8::).
 */
import { describe, expect, it } from "vitest";
import { gcpAudit } from "../src/sources/gcp-audit";
import { fixture, one, run } from "./helpers";

const PLANT = /PLANTED|UExBTlRFRC/;
const sm = run(gcpAudit, fixture("gcp-audit/secret-manager-variants.ndjson"));
const smLines = fixture("gcp-audit/secret-manager-variants.ndjson").trim().split("\n");

describe("gcp-audit: Secret Manager Data Access and Admin Activity entries", () => {
  it("every entry is accepted and normalized", () => {
    expect(sm).toMatchObject({ rejected: [], failed: [], decodeErrors: [] });
    expect(sm.events).toHaveLength(8);
  });

  it("GKE Workload Identity: KSA delegate is the actor, bound GSA linked; nanosecond time truncated", () => {
    const e = sm.events[0];
    expect(e).toMatchObject({
      time: "2026-11-20T04:00:00.123Z",
      verb: "read",
      outcome: "success",
      status_code: 200,
      resource: { uri: "gcp-secretmanager://projects/123456789012/secrets/db-password", type: "secret" },
    });
    expect(e.actor.links).toEqual([
      "k8s-sa:prod-eu:payments:api-server",
      "gcp-sa:app-gsa@ml-proj-example.iam.gserviceaccount.com",
    ]);
    expect(e.actor.impersonated).toBeUndefined();
    expect(e.attrs.secret_version).toBe("latest");
  });

  it("a user-managed service account key is the actor's credential", () => {
    const e = sm.events[1];
    expect(e.actor.links).toEqual(["gcp-sa:ci-deployer@ml-proj-example.iam.gserviceaccount.com"]);
    expect(e.actor.credential_id).toBe(
      "//iam.googleapis.com/projects/ml-proj-example/serviceAccounts/ci-deployer@ml-proj-example.iam.gserviceaccount.com/keys/0123456789abcdef0123456789abcdef01234567",
    );
    expect(e.actor.attrs.credential_type).toBe("service_account_key");
    expect(sm.events[0].actor.credential_id).toBeUndefined();
  });

  it("PERMISSION_DENIED (code 7) is a 403 failure with Google's message", () => {
    expect(sm.events[2]).toMatchObject({ outcome: "failure", status_code: 403, actor: { type: "human" } });
    expect(sm.events[2].reason).toMatch(/^7: Permission 'secretmanager.versions.access' denied/);
    expect(sm.events[2].attrs.permissions).toBe("secretmanager.versions.access:denied");
  });

  it("Workload Identity Federation for GKE: the KSA principal without a Google service account", () => {
    expect(sm.events[3].actor.links).toEqual(["k8s-sa:prod-eu:ml-train:trainer"]);
  });

  it("ListSecrets lists the project; CreateSecret names the new secret from the request", () => {
    expect(sm.events[4]).toMatchObject({
      verb: "list",
      resource: { uri: "gcp-secretmanager://projects/123456789012/secrets/*", type: "secret" },
    });
    expect(sm.events[5]).toMatchObject({
      verb: "create",
      resource: { uri: "gcp-secretmanager://projects/123456789012/secrets/new-api-key", name: "new-api-key" },
    });
  });

  it("AddSecretVersion: a payload in the request never leaves the collector", () => {
    expect(sm.events[6]).toMatchObject({ verb: "write", resource: { name: "new-api-key" } });
    expect(smLines[6]).toMatch(PLANT);
    expect(JSON.stringify(sm.wire)).not.toMatch(PLANT);
    expect(JSON.stringify(sm.events)).not.toMatch(PLANT);
  });

  it("a regional secret is another resource than the global secret of the same name", () => {
    expect(sm.events[7].resource.uri).toBe(
      "gcp-secretmanager://projects/123456789012/locations/europe-west4/secrets/db-password",
    );
    expect(sm.events[7].resource.uri).not.toBe(sm.events[0].resource.uri);
    expect(sm.events[7].attrs.secret_location).toBe("europe-west4");
  });
});

describe("gcp-audit: GCS Data Access entries", () => {
  const g = run(gcpAudit, fixture("gcp-audit/gcs-variants.ndjson"));

  it("object names keep their slashes and spaces; IPv6 caller", () => {
    expect(g.rejected).toEqual([]);
    expect(g.events).toHaveLength(6);
    expect(g.events[0]).toMatchObject({
      verb: "read",
      src_ip: "2001:db8::1234",
      resource: {
        uri: "gs://ml-datasets-example/raw/2026 Q3/train part-001.parquet",
        type: "object",
        name: "raw/2026 Q3/train part-001.parquet",
      },
    });
    expect(g.events[1]).toMatchObject({ verb: "write", time: "2026-11-20T05:01:00.000Z" });
    expect(g.events[2]).toMatchObject({ verb: "delete", outcome: "failure", status_code: 403 });
    expect(g.events[3]).toMatchObject({
      verb: "list",
      resource: { uri: "gs://ml-datasets-example/", type: "bucket" },
    });
  });

  it("principalSubject in IAM principal form (`serviceAccount:`, `user:`) aliases the address", () => {
    expect(g.events[3].actor).toMatchObject({
      principal: "serviceAccount:trainer-gsa@ml-proj-example.iam.gserviceaccount.com",
      type: "service_account",
      links: ["gcp-sa:trainer-gsa@ml-proj-example.iam.gserviceaccount.com"],
    });
    expect(g.events[4].actor).toMatchObject({ type: "human", links: ["human:erin@example.com"] });
  });

  it("a caller Google redacted (empty authenticationInfo) is kept as anonymous", () => {
    expect(g.events[5]).toMatchObject({ outcome: "failure", actor: { principal: "anonymous", links: [] } });
  });
});

describe("gcp-audit: IAM Credentials token minting", () => {
  const c = run(gcpAudit, fixture("gcp-audit/iamcredentials-variants.ndjson"));
  const target = "deployer@ml-proj-example.iam.gserviceaccount.com";

  it("the resource is the target service account, named by email, not by unique id", () => {
    expect(c.events).toHaveLength(4);
    for (const e of c.events) {
      expect(e.verb).toBe("impersonate");
      expect(e.actor.impersonated).toBe(target);
      expect(e.resource).toEqual({
        uri: `gcp://iamcredentials.googleapis.com/projects/-/serviceAccounts/${target}`,
        type: "service_account",
        name: target,
      });
    }
  });

  it("a delegation chain is kept; short method names; denied minting is a failure", () => {
    expect(c.events[0].attrs.delegation_targets).toBe(
      `hop@ml-proj-example.iam.gserviceaccount.com,${target}`,
    );
    expect(c.events[0].actor.links).toEqual(["human:frank@example.com"]);
    expect(c.events[1].operation).toBe("SignJwt");
    expect(c.events[2]).toMatchObject({ outcome: "failure", status_code: 403 });
    expect(c.events[3].actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "gcp-sa:trainer-gsa@ml-proj-example.iam.gserviceaccount.com",
    ]);
  });

  it("signed JWTs and JWT claims in request/response never pass", () => {
    expect(fixture("gcp-audit/iamcredentials-variants.ndjson")).toMatch(PLANT);
    expect(JSON.stringify(c.wire)).not.toMatch(PLANT);
    const wire = c.wire[0] as { protoPayload: { request: Record<string, unknown> } };
    expect(wire.protoPayload.request.delegates).toEqual([
      "projects/-/serviceAccounts/hop@ml-proj-example.iam.gserviceaccount.com",
    ]);
  });
});

describe("gcp-audit: export and delivery shapes", () => {
  it("BigQuery sink rows (protopayload_auditlog, *Json text, TIMESTAMP text, INT64 as string) = the entries", () => {
    const bq = run(gcpAudit, fixture("gcp-audit/bigquery-export.ndjson"));
    expect(bq).toMatchObject({ rejected: [], failed: [] });
    expect(bq.events).toHaveLength(3);
    // Same event (same id) as the LogEntry it was exported from.
    expect(bq.events[0].id).toBe(sm.events[0].id);
    expect(bq.events[0]).toMatchObject({
      time: "2026-11-20T04:00:00.123Z",
      resource: sm.events[0].resource,
      actor: { links: sm.events[0].actor.links },
    });
    expect(bq.events[1]).toMatchObject({ id: sm.events[2].id, outcome: "failure", status_code: 403 });
    expect(bq.events[2].resource.uri).toBe("gs://ml-datasets-example/raw/2026 Q3/train part-001.parquet");
  });

  it("Log Analytics rows (proto_payload.audit_log, snake_case, JSON columns as text)", () => {
    const la = run(gcpAudit, fixture("gcp-audit/log-analytics-rows.json"));
    expect(la).toMatchObject({ rejected: [], failed: [] });
    expect(la.events.map((e) => e.id)).toEqual([
      sm.events[1].id,
      run(gcpAudit, fixture("gcp-audit/gcs-variants.ndjson")).events[1].id,
    ]);
    expect(la.events[0]).toMatchObject({
      time: "2026-11-20T04:01:00.500Z",
      src_ip: "192.0.2.37",
      actor: { credential_id: sm.events[1].actor.credential_id, links: sm.events[1].actor.links },
    });
    expect(la.events[1].actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "gcp-sa:trainer-gsa@ml-proj-example.iam.gserviceaccount.com",
    ]);
  });

  it("entries serialized with proto field names (proto_payload with @type, insert_id)", () => {
    const e = JSON.parse(smLines[0]);
    const snake = {
      insert_id: e.insertId,
      log_name: e.logName,
      timestamp: e.timestamp,
      proto_payload: {
        "@type": e.protoPayload["@type"],
        service_name: e.protoPayload.serviceName,
        method_name: e.protoPayload.methodName,
        resource_name: e.protoPayload.resourceName,
        authentication_info: {
          principal_email: e.protoPayload.authenticationInfo.principalEmail,
          service_account_delegation_info: [
            {
              principal_subject:
                e.protoPayload.authenticationInfo.serviceAccountDelegationInfo[0].principalSubject,
            },
          ],
        },
        request_metadata: { caller_ip: "192.0.2.21" },
      },
      resource: { type: e.resource.type, labels: { resource_container: "projects/123456789012" } },
    };
    const got = one(gcpAudit, JSON.stringify(snake));
    expect(got).toMatchObject({ id: sm.events[0].id, resource: sm.events[0].resource, src_ip: "192.0.2.21" });
    expect(got.actor.links).toEqual(sm.events[0].actor.links);
    // Map keys stay as written.
    expect(
      (run(gcpAudit, JSON.stringify(snake)).wire[0] as { resource: { labels: object } }).resource.labels,
    ).toEqual({
      resource_container: "projects/123456789012",
    });
  });

  it("Pub/Sub pull responses (REST and gcloud --format=json) and Eventarc CloudEvents", () => {
    const data = Buffer.from(smLines[0]).toString("base64");
    const message = { data, messageId: "9001", publishTime: "2026-11-20T04:00:01.5Z" };
    const bodies = [
      { receivedMessages: [{ ackId: "ack-1", message, deliveryAttempt: 1 }] },
      [{ ackId: "ack-1", message }],
      {
        specversion: "1.0",
        type: "google.cloud.audit.log.v1.written",
        source: "//cloudaudit.googleapis.com/projects/ml-proj-example/logs/data_access",
        id: "9001",
        time: "2026-11-20T04:00:00.123Z",
        datacontenttype: "application/json",
        data: JSON.parse(smLines[0]),
      },
    ];
    for (const b of bodies) expect(one(gcpAudit, JSON.stringify(b)).id).toBe(sm.events[0].id);
    const bad = run(
      gcpAudit,
      JSON.stringify({ receivedMessages: [{ ackId: "a", message: { data: "!!" } }] }),
    );
    expect(bad.rejected).toEqual(["Pub/Sub message data: malformed JSON"]);
  });

  it("fields outside the AuditLog schema (resourceOriginalState, serviceData, BigQuery servicedata_*) are dropped", () => {
    const e = JSON.parse(smLines[5]);
    e.protoPayload.resourceOriginalState = { env: [{ name: "DB", value: "PLANTED-ORIGINAL-STATE" }] };
    e.protoPayload.serviceData = { note: "PLANTED-SERVICE-DATA" };
    const r = run(gcpAudit, JSON.stringify(e));
    expect(r.events).toHaveLength(1);
    expect(JSON.stringify(r.wire)).not.toMatch(PLANT);
    const row = JSON.parse(fixture("gcp-audit/bigquery-export.ndjson").split("\n")[0]);
    row.protopayload_auditlog.servicedata_v1_bigquery = { query: "PLANTED-QUERY" };
    row.protopayload_auditlog.serviceDataJson = '{"x":"PLANTED-SD-JSON"}';
    row.protopayload_auditlog.responseJson = '{"payload":{"data":"UExBTlRFRC1SRVNQT05TRQ=="}}';
    const b = run(gcpAudit, JSON.stringify(row));
    expect(b.events).toHaveLength(1);
    expect(JSON.stringify(b.wire)).not.toMatch(PLANT);
  });
});
