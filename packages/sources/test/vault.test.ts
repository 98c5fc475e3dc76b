import { describe, expect, it } from "vitest";
import { kubernetesAuthCluster, vault } from "../src/sources/vault";
import { fixture, run } from "./helpers";

describe("vault parser", () => {
  const r = run(vault, fixture("vault/k8s-auth-session.ndjson"));

  it("emits response entries, skips request entries with a reason, keeps a failed request", () => {
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    // 8 lines: login req (skip) + resp, kv read req (skip) + resp, metadata read, denied req + resp, list.
    expect(r.skipped).toHaveLength(2);
    expect(r.skipped[0]).toMatch(/request entry/);
    expect(r.events).toHaveLength(6);
  });

  it("links a kubernetes-auth token to its service account (cluster from the collector) and entity", () => {
    const read = r.events.find((e) => e.resource.uri === "vault://secret/data/ml/wandb-api-key");
    expect(read).toBeDefined();
    expect(read?.actor.links).toEqual([
      "vault-entity:7d2e1c3b-0000-4000-8000-0000000000e1",
      "k8s-sa:prod-eu:ml-train:trainer",
    ]);
    expect(read?.actor.type).toBe("service_account");
    expect(read?.actor.display_name).toBe("kubernetes-ml-train-trainer");
    // The accessor stays HMAC'd: it is a stable per-token handle, never un-HMAC'd.
    expect(read?.actor.credential_id).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(read).toMatchObject({ verb: "read", operation: "read", outcome: "success", src_ip: "192.0.2.10" });
    expect(read?.resource.type).toBe("vault-secret");
    expect(read?.attrs.policies).toBe("default,ml-train-read");
    expect(read?.attrs.mount_type).toBe("kv");
    expect(read?.time).toBe("2026-11-20T02:00:01.010Z");
  });

  it("takes the actor of a login from the issued token and calls it auth", () => {
    const login = r.events.find((e) => e.resource.uri === "vault://auth/kubernetes/login");
    expect(login?.verb).toBe("auth");
    expect(login?.actor.links).toContain("k8s-sa:prod-eu:ml-train:trainer");
  });

  it("tells KV v2 metadata reads from value reads and maps list", () => {
    const md = r.events.find((e) => e.resource.uri === "vault://secret/metadata/ml/wandb-api-key");
    expect(md?.resource.type).toBe("kv-metadata");
    const list = r.events.find((e) => e.resource.uri === "vault://secret/metadata/ml/");
    expect(list?.verb).toBe("list");
  });

  it("keeps the error of a denied request; request and response collapse to one event id", () => {
    const denied = r.events.filter((e) => e.resource.uri === "vault://secret/data/prod/db-root");
    expect(denied).toHaveLength(2);
    expect(denied[0].id).toBe(denied[1].id);
    expect(denied[0]).toMatchObject({ outcome: "failure", status_code: 403, reason: "permission denied" });
    expect(denied[0].actor.links).toEqual([
      "vault-entity:9a9a9a9a-0000-4000-8000-0000000000a1",
      "human:alice@example.com",
    ]);
    expect(denied[0].actor.type).toBe("human");
  });

  it("rejects KMIP and unknown entry types, missing fields and bad times with reasons", () => {
    const base = JSON.parse(fixture("vault/k8s-auth-session.ndjson").split("\n")[3]);
    const cases: [unknown, RegExp][] = [
      [{ ...base, type: "kmip-response" }, /unsupported Vault audit entry type/],
      [{ ...base, type: undefined }, /missing type/],
      [{ ...base, request: undefined }, /missing request/],
      [{ ...base, request: { ...base.request, path: 3 } }, /request\.path/],
      [{ ...base, time: undefined }, /timestamp/],
      [{ ...base, time: "1970-01-01T00:00:00Z" }, /before 2000/],
      [{ ...base, time: "2099-01-01T00:00:00Z" }, /future/],
      [[1, 2], /not a JSON object/],
    ];
    for (const [rec, re] of cases) {
      const a = vault.accept(rec);
      expect(a.ok).toBe(false);
      if (!a.ok) expect(a.error).toMatch(re);
      const n = vault.normalize(rec, { cluster: "c", receivedAt: "2026-11-24T00:00:00.000Z" });
      expect(n.ok).toBe(false);
    }
  });

  it("audit device `prefix` option: the text before the JSON object is dropped", () => {
    const p = run(vault, fixture("vault/prefixed.txt"));
    expect(p.decodeErrors).toEqual([]);
    expect(p.events.map((e) => e.resource.uri)).toEqual([
      "vault://auth/kubernetes/login",
      "vault://secret/data/ml/wandb-api-key",
    ]);
  });

  it("kubernetes_auth_clusters maps the login's mount, and later tokens by their display-name prefix", () => {
    const ctx = { cluster: "default", receivedAt: "2026-11-24T12:00:00.000Z" };
    const mapped = run(vault, fixture("vault/k8s-auth-session.ndjson"), {
      ...ctx,
      vaultAuthClusters: { "auth/k8s-eu/": "other", "auth/kubernetes/": "prod-eu" },
    });
    const login = mapped.events.find((e) => e.resource.uri === "vault://auth/kubernetes/login");
    const read = mapped.events.find((e) => e.resource.uri === "vault://secret/data/ml/wandb-api-key");
    expect(login?.actor.links).toContain("k8s-sa:prod-eu:ml-train:trainer");
    expect(read?.actor.links).toContain("k8s-sa:prod-eu:ml-train:trainer");
    // The event keeps the ingest cluster; only the service account's identity moves.
    expect(read?.cluster).toBe("default");
    const unmapped = run(vault, fixture("vault/k8s-auth-session.ndjson"), ctx);
    expect(unmapped.events.find((e) => e.resource.uri === read?.resource.uri)?.actor.links).toContain(
      "k8s-sa:default:ml-train:trainer",
    );
    // Longest mount wins for nested mount paths; no match keeps the fallback.
    const r = { request: { mount_point: "secret/" } };
    const map = { "auth/k8s/": "a", "auth/k8s/eu/": "b" };
    expect(kubernetesAuthCluster(r, { display_name: "k8s-eu-ml-trainer" }, "x", map)).toBe("b");
    expect(kubernetesAuthCluster(r, { display_name: "k8s-ml-trainer" }, "x", map)).toBe("a");
    expect(kubernetesAuthCluster(r, { display_name: "approle" }, "x", map)).toBe("x");
  });
});
