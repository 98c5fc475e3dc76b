/**
 * MinIO audit entries beyond plain S3 calls: STS, admin API calls through the console, entries of the
 * 2021–2023 generation (claims without `accessKey`/`parentUser`), batch deletes (`api.objects`), presigned
 * URLs and internal subsystem entries. Written from the `Entry` struct (minio/pkg logger/message/audit)
 * and MinIO's STS and admin handlers, with placeholder values.
 */

import type { NormalizedEvent } from "@identrail/schema";
import { describe, expect, it } from "vitest";
import { minio } from "../src/sources/minio";
import { CTX, fixture, run } from "./helpers";

const PLANT = /PLANTED/;

function clean(f: string) {
  const r = run(minio, fixture(f));
  expect(r.decodeErrors).toEqual([]);
  expect(r.rejected).toEqual([]);
  expect(r.failed).toEqual([]);
  return r;
}
const byOp = (events: NormalizedEvent[], op: string) => events.filter((e) => e.operation === op);

describe("minio: STS and the admin API", () => {
  const r = clean("minio/sts-admin-console.ndjson");

  it("AssumeRoleWithWebIdentity with a Kubernetes service-account token is that service account's login", () => {
    const [sts, expired] = byOp(r.events, "AssumeRoleWithWebIdentity");
    expect(sts).toMatchObject({
      verb: "auth",
      outcome: "success",
      resource: { uri: "minio-sts://AssumeRoleWithWebIdentity", type: "sts" },
      actor: { principal: "system:serviceaccount:ml-train:trainer", type: "service_account" },
    });
    expect(sts.actor.links).toEqual(["k8s-sa:prod-eu:ml-train:trainer"]);
    expect(expired).toMatchObject({
      verb: "auth",
      outcome: "failure",
      status_code: 400,
      reason: "Token has expired",
    });
  });

  it("requests with the STS credentials link MinIO's parent-user hash to the service account", () => {
    const [get] = byOp(r.events, "GetObject");
    expect(get.actor.links).toEqual([
      "minio-user:q3hY0Fz7A9EXAMPLEPARENTHASH0000000000000000",
      "minio-key:STSKEY0EXAMPLE000001",
      "k8s-sa:prod-eu:ml-train:trainer",
    ]);
    expect(get).toMatchObject({ verb: "read", bytes_out: 524288000, resource: { type: "object" } });
    expect(get.actor.display_name).toBe("system:serviceaccount:ml-train:trainer");
  });

  it("console admin calls by an OIDC user: a human, admin resources with their target, IAM verbs", () => {
    const info = byOp(r.events, "ServerInfo")[0];
    expect(info.actor).toMatchObject({ type: "human", display_name: "alice" });
    expect(info.actor.links).toContain("human:alice@example.com");
    expect(info).toMatchObject({
      verb: "other",
      resource: { uri: "minio-admin://ServerInfo", type: "admin" },
    });
    expect(byOp(r.events, "AddServiceAccount")[0].verb).toBe("create");
    expect(byOp(r.events, "SetPolicyForUserOrGroup")[0]).toMatchObject({
      verb: "update",
      resource: { uri: "minio-admin://SetPolicyForUserOrGroup/etl-bot", name: "etl-bot" },
    });
    // S3 ListBuckets through the console stays an S3 call.
    expect(byOp(r.events, "ListBuckets")[0]).toMatchObject({ verb: "list", resource: { uri: "minio://" } });
  });

  it("a denied admin call keeps MinIO's error as the reason", () => {
    expect(byOp(r.events, "AddUser")[0]).toMatchObject({
      verb: "create",
      outcome: "failure",
      status_code: 403,
      reason: "Access Denied.",
      resource: { uri: "minio-admin://AddUser/shadow-admin" },
      actor: { principal: "notebook-user" },
    });
  });

  it("LDAP STS names the LDAP user; its password and web identity tokens in the query never leave", () => {
    expect(byOp(r.events, "AssumeRoleWithLDAPIdentity")[0]).toMatchObject({
      verb: "auth",
      actor: { principal: "backup-svc" },
    });
    const text = fixture("minio/sts-admin-console.ndjson");
    expect(text).toMatch(PLANT);
    for (const rec of minio.decode(text).records) {
      expect(JSON.stringify(minio.redact?.(rec))).not.toMatch(PLANT);
      const a = minio.accept(rec);
      expect(a.ok).toBe(true);
      if (!a.ok) continue;
      const wire = JSON.stringify(a.value.record);
      expect(wire).not.toMatch(PLANT);
      expect(JSON.stringify(minio.normalize(JSON.parse(wire), CTX))).not.toMatch(PLANT);
    }
  });
});

describe("minio: entry generations and shapes", () => {
  const r = clean("minio/mixed-generations.ndjson");

  it("2021–2023 entries: access key and parent user from requestClaims", () => {
    const [put] = byOp(r.events, "PutObject");
    expect(put.actor).toMatchObject({ principal: "ml-trainer", credential_id: "TRAINSVCACCT00000001" });
    expect(put.actor.links).toEqual(["minio-user:ml-trainer", "minio-key:TRAINSVCACCT00000001"]);
    expect(minio.accept(JSON.parse(fixture("minio/mixed-generations.ndjson").split("\n")[0]))).toMatchObject({
      ok: true,
      value: { key: "ml-trainer" },
    });
  });

  it("DeleteMultipleObjects: one delete per object (distinct ids), bytes counted once", () => {
    const del = byOp(r.events, "DeleteMultipleObjects");
    expect(del.map((e) => e.resource.uri)).toEqual([
      "minio://models/llm/step-1000.pt",
      "minio://models/llm/step-2000.pt",
      "minio://models/llm/config.json",
    ]);
    expect(new Set(del.map((e) => e.id)).size).toBe(3);
    expect(del.every((e) => e.verb === "delete" && e.actor.principal === "cleanup-bot")).toBe(true);
    expect(del.map((e) => e.bytes_in)).toEqual([420, 0, 0]);
    expect(del[0].attrs.batch_objects).toBe("3");
  });

  it("presigned GET: the key from X-Amz-Credential, the signature redacted", () => {
    const get = byOp(r.events, "GetObject").find((e) => e.resource.uri.startsWith("minio://datasets/"));
    expect(get?.actor.links).toEqual(["minio-key:share-bot"]);
    expect(JSON.stringify(r.wire)).not.toMatch(PLANT);
  });

  it("internal ILM expiry: the subsystem acts on the object in api.objects, outcome unknown", () => {
    const [ilm] = byOp(r.events, "ILMExpiry");
    expect(ilm).toMatchObject({
      verb: "delete",
      outcome: "unknown",
      actor: { principal: "system:minio:ilm:expiry", type: "unknown" },
      resource: { uri: "minio://scratch/tmp/run-41/ckpt.pt", type: "object" },
      time: "2026-11-22T07:03:00.500Z",
    });
  });

  it("anonymous reads stay anonymous", () => {
    const anon = byOp(r.events, "GetObject").find((e) => e.resource.uri === "minio://public-assets/logo.png");
    expect(anon?.actor).toMatchObject({ principal: "anonymous", type: "unknown", links: [] });
  });

  it("S3 handlers outside the table: configuration changes are updates, reads of state are other", () => {
    const verb = (op: string) => byOp(r.events, op)[0].verb;
    expect(verb("GetBucketPolicy")).toBe("other");
    expect(verb("DeleteObjectTagging")).toBe("update");
    expect(verb("PutBucketVersioning")).toBe("update");
    expect(verb("PutBucketLifecycle")).toBe("update");
    expect(verb("HeadBucket")).toBe("other");
  });
});
