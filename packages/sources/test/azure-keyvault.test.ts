import { describe, expect, it } from "vitest";
import { azureKeyVault } from "../src/sources/azure-keyvault";
import { fixture, one, run } from "./helpers";

describe("azure-keyvault parser", () => {
  const r = run(azureKeyVault, fixture("azure-keyvault/secret-ops.json"));

  it("SecretGet by an app: azure-app alias from appid first, object id linked", () => {
    expect(r.rejected).toEqual([]);
    const get = r.events[0];
    expect(get.actor.links).toEqual([
      "azure-app:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
      "azure-app:11111111-2222-4333-8444-555555555555",
    ]);
    expect(get.actor.type).toBe("service_account");
    expect(get).toMatchObject({ verb: "read", outcome: "success", status_code: 200, src_ip: "192.0.2.80" });
    expect(get.resource).toMatchObject({
      uri: "azure-keyvault://ml-kv-example/secrets/hf-token",
      type: "secret",
      name: "hf-token",
    });
    expect(get.attrs.object_version).toBe("0123456789abcdef0123456789abcdef");
    expect(get.user_agent).toMatch(/^azsdk-python-keyvault-secrets/);
  });

  it("a user's token: human alias from the UPN, not the client app's appid; 403 is a failure", () => {
    const list = r.events[1];
    expect(list.actor.links).toEqual([
      "human:bob@example.com",
      "azure-app:99999999-8888-4777-8666-555555555555",
    ]);
    expect(list.actor.links).not.toContain("azure-app:04b07795-8ddb-461a-bbee-02f9e1bf7b46");
    expect(list).toMatchObject({ verb: "list", outcome: "failure", status_code: 403, reason: "Forbidden" });
    expect(list.resource.uri).toBe("azure-keyvault://ml-kv-example/secrets/*");
    expect(r.events[2]).toMatchObject({ verb: "write", operation: "SecretSet" });
    expect(new Set(r.events.map((e) => e.id)).size).toBe(3);
  });

  it("bare arrays and single records; vault from resourceId when there is no URL", () => {
    const recs = JSON.parse(fixture("azure-keyvault/secret-ops.json")).records;
    expect(run(azureKeyVault, JSON.stringify(recs)).events).toHaveLength(3);
    const noUrl = { ...recs[0], operationName: "VaultGet", properties: { httpStatusCode: 200 } };
    const e = one(azureKeyVault, JSON.stringify(noUrl));
    expect(e.resource).toMatchObject({ uri: "azure-keyvault://ml-kv-example", type: "vault" });
  });

  it("guest UPNs alias to the address", () => {
    const recs = JSON.parse(fixture("azure-keyvault/secret-ops.json")).records;
    const guest = { ...recs[1], identity: { claim: { upn: "live.com#Carol@Example.com" } } };
    expect(one(azureKeyVault, JSON.stringify(guest)).actor.links).toEqual(["human:carol@example.com"]);
  });

  it("rejects other categories, missing operationName and bad times", () => {
    const rec = JSON.parse(fixture("azure-keyvault/secret-ops.json")).records[0];
    const cases: [unknown, RegExp][] = [
      [{ ...rec, category: "AzurePolicyEvaluationDetails" }, /AuditEvent/],
      [{ ...rec, operationName: undefined }, /operationName/],
      [{ ...rec, time: "2099-01-01T00:00:00Z" }, /future/],
      [{ ...rec, identity: "x" }, /identity/],
    ];
    for (const [x, re] of cases) {
      const a = azureKeyVault.accept(x);
      expect(a.ok).toBe(false);
      if (!a.ok) expect(a.error).toMatch(re);
    }
  });
});
