/**
 * Vault audit entries as current and older releases write them, for the auth methods and secrets engines
 * a platform's non-human identities use. Fixtures are written from the audit schema
 * (https://developer.hashicorp.com/vault/docs/audit/schema, `audit/types.go`) with placeholder values.
 */

import type { NormalizedEvent } from "@identrail/schema";
import { describe, expect, it } from "vitest";
import { vault } from "../src/sources/vault";
import { CTX, fixture, run } from "./helpers";

const PLANT = /PLANTED/;

function byUri(events: NormalizedEvent[], uri: string): NormalizedEvent {
  const e = events.find((x) => x.resource.uri === uri);
  if (!e) throw new Error(`no event for ${uri}: ${events.map((x) => x.resource.uri).join(", ")}`);
  return e;
}

function clean(f: string) {
  const r = run(vault, fixture(f));
  expect(r.decodeErrors).toEqual([]);
  expect(r.rejected).toEqual([]);
  expect(r.failed).toEqual([]);
  return r;
}

describe("vault: 1.15+ entries (policy_results, mount_class, client_id) and KV v2 paths", () => {
  const r = clean("vault/k8s-login-kv-v1-15.ndjson");

  it("login and reads link the service account; granting policies are kept", () => {
    expect(r.skipped).toHaveLength(2);
    const login = byUri(r.events, "vault://auth/kubernetes/login");
    expect(login).toMatchObject({ verb: "auth", time: "2026-11-21T08:00:00.034Z", outcome: "success" });
    const read = byUri(r.events, "vault://kv/data/ml/wandb");
    expect(read.actor.links).toEqual([
      "vault-entity:3c9f0e8d-0000-4000-8000-0000000000e2",
      "k8s-sa:prod-eu:ml-train:trainer",
    ]);
    expect(read).toMatchObject({
      verb: "read",
      resource: { type: "vault-secret" },
      time: "2026-11-21T08:00:01.200Z",
    });
    expect(read.attrs).toMatchObject({ granting_policies: "ml-train-read", secret_kind: "kv" });
    expect(read.attrs.client_id).toBe("c1ient00-0000-4000-8000-000000000001");
  });

  it("a KV list is a secret listing; subkeys and metadata are metadata; destroy is a delete", () => {
    expect(byUri(r.events, "vault://kv/metadata/ml/")).toMatchObject({
      verb: "list",
      resource: { type: "vault-secret" },
    });
    expect(byUri(r.events, "vault://kv/subkeys/ml/wandb").resource.type).toBe("kv-metadata");
    expect(byUri(r.events, "vault://kv/destroy/ml/wandb")).toMatchObject({
      verb: "delete",
      operation: "update",
      resource: { type: "vault-secret" },
    });
  });

  it("without mount_point (older releases) the mount is the first path segment", () => {
    const md = byUri(r.events, "vault://kv/metadata/ml/wandb");
    expect(md.attrs.mount_point).toBeUndefined();
    expect(md.resource.type).toBe("kv-metadata");
  });
});

describe("vault: CI runners (JWT auth)", () => {
  const r = clean("vault/ci-jwt-logins.ndjson");

  it("a GitHub Actions batch token has no accessor: the token HMAC is its credential, the entity its identity", () => {
    const read = byUri(r.events, "vault://kv/data/ci/registry");
    expect(read.actor.links).toEqual(["vault-entity:4d000000-0000-4000-8000-0000000000e3"]);
    expect(read.actor.credential_id).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(read.actor.type).toBe("service_account");
    expect(read.attrs).toMatchObject({
      token_type: "batch",
      ci_repository: "example-org/ml-pipeline",
      ci_ref: "refs/heads/main",
    });
    expect(byUri(r.events, "vault://auth/jwt-github/login").verb).toBe("auth");
  });

  it("a GitLab pipeline token with a mapped email stays a pipeline, not the person who pushed", () => {
    const login = byUri(r.events, "vault://auth/gitlab/login");
    expect(login.actor.type).toBe("service_account");
    expect(login.actor.links).toEqual(["vault-entity:5e000000-0000-4000-8000-0000000000e4"]);
    expect(login.attrs.ci_repository).toBe("example-group/ml-models");
  });

  it("JWT auth with user_claim=sub against a cluster issuer: the display name names the service account", () => {
    const read = byUri(r.events, "vault://kv/data/serve/hf-token");
    expect(read.actor.links).toContain("k8s-sa:prod-eu:ml-serve:inference");
    expect(read.actor.type).toBe("service_account");
  });
});

describe("vault: AppRole, AWS and GCP auth", () => {
  const r = clean("vault/approle-aws-gcp.ndjson");

  it("AWS IAM auth links the role CloudTrail names (canonical_arn), or the IAM user", () => {
    const login = byUri(r.events, "vault://auth/aws/login");
    expect(login.actor.links).toEqual([
      "vault-entity:81000000-0000-4000-8000-0000000000e7",
      "aws-role:123456789012:ml-trainer",
    ]);
    expect(login.actor.type).toBe("cloud_role");
    expect(byUri(r.events, "vault://kv/data/ml/s3-bucket-config").actor.links).toContain(
      "aws-role:123456789012:ml-trainer",
    );
    expect(byUri(r.events, "vault://kv/data/backup/key").actor.links).toContain(
      "aws-user:123456789012:backup-bot",
    );
  });

  it("GCP auth links the service account (lower-cased, as the GCP parser writes it)", () => {
    const login = byUri(r.events, "vault://auth/gcp/login");
    expect(login.actor.links).toContain("gcp-sa:trainer@ml-prod.iam.gserviceaccount.com");
    expect(login.verb).toBe("auth");
  });

  it("AppRole tokens keep their role name", () => {
    const read = byUri(r.events, "vault://kv/data/etl/warehouse");
    expect(read.actor).toMatchObject({ principal: "approle", type: "service_account" });
    expect(read.attrs.auth_role).toBe("nightly-etl");
  });
});

describe("vault: secrets engines", () => {
  const r = clean("vault/secrets-engines.ndjson");

  it("dynamic and static credentials are secret reads whatever the HTTP method", () => {
    for (const [uri, kind] of [
      ["vault://database/creds/readonly", "database"],
      ["vault://db-prod/static-creds/app", "database"],
      ["vault://aws/sts/deployer", "aws"],
      ["vault://pki_int/issue/ml-svc", "pki"],
    ]) {
      const e = byUri(r.events, uri);
      expect(e).toMatchObject({ verb: "read", resource: { type: "vault-secret" } });
      expect(e.attrs.secret_kind).toBe(kind);
    }
    expect(byUri(r.events, "vault://aws/sts/deployer").operation).toBe("update");
  });

  it("transit decrypt reads protected data; encrypt keeps Vault's operation", () => {
    expect(byUri(r.events, "vault://transit/decrypt/ml-data")).toMatchObject({
      verb: "read",
      resource: { type: "transit" },
    });
    expect(byUri(r.events, "vault://transit/encrypt/ml-data").verb).toBe("update");
  });
});

describe("vault: sys/ and token operations, logins, failures, namespaces", () => {
  const r = clean("vault/sys-token-ops.ndjson");

  it("a root token (no entity) is identified by its accessor; token create is a create", () => {
    const pol = byUri(r.events, "vault://sys/policies/acl/ml-train-read");
    expect(pol.actor).toMatchObject({ principal: "root", type: "unknown", groups: ["root"] });
    expect(pol.actor.links[0]).toMatch(/^vault-accessor:hmac-sha256:/);
    expect(pol).toMatchObject({ verb: "update", resource: { type: "system" } });
    const tc = byUri(r.events, "vault://auth/token/create");
    expect(tc).toMatchObject({ verb: "create", resource: { type: "token" } });
    // The creator is the actor, not the token it created.
    expect(tc.actor.principal).toBe("root");
    expect(byUri(r.events, "vault://auth/token/renew-self").verb).toBe("update");
  });

  it("OIDC browser callback and MFA validation are logins of a human", () => {
    for (const uri of ["vault://auth/oidc/oidc/callback", "vault://sys/mfa/validate"]) {
      const e = byUri(r.events, uri);
      expect(e.verb).toBe("auth");
      expect(e.actor.type).toBe("human");
      expect(e.actor.links).toContain("human:alice@example.com");
    }
  });

  it("a failed password login names the user from its path; a failed kubernetes login stays anonymous", () => {
    const up = byUri(r.events, "vault://auth/userpass/login/bob");
    expect(up).toMatchObject({ verb: "auth", outcome: "failure", reason: "invalid username or password" });
    expect(up.actor.principal).toBe("userpass-bob");
    const k = byUri(r.events, "vault://auth/kubernetes/login");
    expect(k).toMatchObject({ verb: "auth", outcome: "failure", actor: { principal: "anonymous" } });
  });

  it("denials are 403 (request and response entries share one event id); a revoked token is its HMAC", () => {
    const denied = r.events.filter((e) => e.resource.uri === "vault://kv/data/prod/db-root" && e.actor.uid);
    expect(denied).toHaveLength(2);
    expect(denied[0].id).toBe(denied[1].id);
    expect(denied[0]).toMatchObject({ outcome: "failure", status_code: 403 });
    const revoked = r.events.find((e) => e.actor.principal === "vault-token");
    expect(revoked?.actor.links[0]).toMatch(/^vault-token:hmac-sha256:/);
    expect(revoked?.status_code).toBe(403);
  });

  it("an Enterprise child namespace qualifies the URI; forwarded requests say from where", () => {
    const e = byUri(r.events, "vault://team-ml/kv/data/ml/wandb");
    expect(e.resource).toMatchObject({
      name: "kv/data/ml/wandb",
      namespace: "team-ml/",
      type: "vault-secret",
    });
    expect(e.attrs).toMatchObject({ namespace: "team-ml/", forwarded_from: "192.0.2.7:8201" });
  });
});

describe("vault: log_raw=true and hmac_accessor=false devices", () => {
  const text = fixture("vault/log-raw-device.ndjson");
  const r = clean("vault/log-raw-device.ndjson");

  it("no clear token, JWT, credential, wrapped value or cookie leaves the collector or the normalizer", () => {
    expect(text).toMatch(PLANT);
    const { records } = vault.decode(text);
    for (const rec of records) {
      expect(JSON.stringify(vault.redact?.(rec))).not.toMatch(PLANT);
      const a = vault.accept(rec);
      expect(a.ok).toBe(true);
      if (!a.ok) continue;
      expect(a.value.key).not.toMatch(PLANT);
      const wire = JSON.stringify(a.value.record);
      expect(wire).not.toMatch(PLANT);
      expect(JSON.stringify(vault.normalize(JSON.parse(wire), CTX))).not.toMatch(PLANT);
    }
  });

  it("clear accessors identify the token; a clear user-agent header is kept", () => {
    const login = byUri(r.events, "vault://auth/kubernetes/login");
    expect(login.actor.credential_id).toBe("Qz0000000000000000000000");
    expect(login.user_agent).toBe("vault-agent/1.15.4");
    const db = byUri(r.events, "vault://database/creds/readonly");
    expect(db.user_agent).toBe("Go-http-client/1.1");
    expect(db.actor.links).toContain("k8s-sa:prod-eu:ml-train:trainer");
    const wire = r.wire[1] as { request: { headers: Record<string, string[]> } };
    expect(wire.request.headers["user-agent"]).toEqual(["Go-http-client/1.1"]);
    expect(wire.request.headers["x-vault-token"]).toEqual(["[redacted]"]);
  });

  it("a token in a request path is redacted", () => {
    const rec = JSON.parse(text.split("\n")[1]);
    rec.request.path = "auth/token/lookup/hvs.CAESIPLANTEDPATHTOKEN0000000000";
    const a = vault.accept(rec);
    expect(a.ok && JSON.stringify(a.value.record)).not.toMatch(PLANT);
  });
});

describe("vault: syslog and socket framing", () => {
  it("RFC 3164 and RFC 5424 syslog headers and a @cee: prefix before the JSON are dropped", () => {
    const r = clean("vault/syslog-framed.txt");
    expect(r.events.map((e) => e.resource.uri)).toEqual([
      "vault://auth/kubernetes/login",
      "vault://kv/data/ml/wandb",
      "vault://sys/policies/acl/ml-train-read",
    ]);
    expect(r.events[1].time).toBe("2026-11-21T08:00:01.200Z");
  });
});

describe("vault: file device on stdout, through a log shipper", () => {
  it("Docker json-file / Fluent Bit `log` and Vector `message` records are unwrapped; server log lines are rejected", () => {
    const r = run(vault, fixture("vault/shipped-stdout.ndjson"));
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual(["shipped log line is not a JSON audit entry"]);
    // The event time is the entry's, not the shipper's.
    expect(r.events.map((e) => [e.resource.uri, e.time])).toEqual([
      ["vault://auth/kubernetes/login", "2026-11-21T08:00:00.034Z"],
      ["vault://kv/data/ml/wandb", "2026-11-21T08:00:01.200Z"],
    ]);
    expect(r.events[1].actor.links).toContain("k8s-sa:prod-eu:ml-train:trainer");
  });
});
