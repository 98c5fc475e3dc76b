/**
 * Key Vault AuditEvent records as Azure writes them: Event Hub batches, storage `PT1H.json` lines, and
 * the same records read back from Log Analytics (`AzureDiagnostics` rows as the az CLI prints them,
 * `AZKVAuditLogs` rows from the query API). Fixtures are written from the Key Vault logging reference and
 * the Azure Monitor table references (redacted: example.com, 192.0.2.x, placeholder GUIDs).
 */
import { describe, expect, it } from "vitest";
import { azureKeyVault } from "../src/sources/azure-keyvault";
import { fixture, one, run } from "./helpers";

const PLANT = /PLANTED|UExBTlRFRC/;
const eh = run(azureKeyVault, fixture("azure-keyvault/eventhub-records.json"));
const byOp = (op: string, i = 0) => eh.events.filter((e) => e.operation === op)[i];
const MI_RID =
  "/subscriptions/00000000-0000-4000-8000-000000000000/resourcegroups/ml-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/trainer-mi";

describe("azure-keyvault: Event Hub records", () => {
  it("every record is accepted; 7-digit fractions; secret values never pass", () => {
    expect(eh).toMatchObject({ rejected: [], failed: [], decodeErrors: [] });
    expect(eh.events).toHaveLength(14);
    expect(eh.events[0].time).toBe("2026-11-20T07:00:00.123Z");
    expect(fixture("azure-keyvault/eventhub-records.json")).toMatch(PLANT);
    expect(JSON.stringify(eh.wire)).not.toMatch(PLANT);
    expect(JSON.stringify(eh.events)).not.toMatch(PLANT);
  });

  it("managed identity (short claims): app alias, object id, display name from xms_mirid", () => {
    const e = eh.events[0];
    expect(e).toMatchObject({ operation: "SecretGet", verb: "read", outcome: "success", status_code: 200 });
    expect(e.resource).toMatchObject({
      uri: "azure-keyvault://ml-kv-example/secrets/hf-token",
      type: "secret",
    });
    expect(e.actor).toMatchObject({
      principal: "22222222-2222-4222-8222-222222222222",
      type: "service_account",
      display_name: "trainer-mi",
      uid: "11111111-1111-4111-8111-111111111111",
      links: [
        "azure-app:22222222-2222-4222-8222-222222222222",
        "azure-app:11111111-1111-4111-8111-111111111111",
      ],
    });
    expect(e.actor.attrs).toMatchObject({ managed_identity: MI_RID, token_type: "app" });
    // A system-assigned identity is named by the resource it belongs to.
    expect(byOp("KeyDecrypt").actor.display_name).toBe("gpu-node-01");
  });

  it("service principal (URI object id claim); httpStatusCode as text", () => {
    expect(byOp("SecretList")).toMatchObject({
      verb: "list",
      status_code: 200,
      outcome: "success",
      resource: { uri: "azure-keyvault://ml-kv-example/secrets/*" },
      actor: {
        links: [
          "azure-app:66666666-6666-4666-8666-666666666666",
          "azure-app:55555555-5555-4555-8555-555555555555",
        ],
      },
    });
  });

  it("user via the CLI: human alias from the URI upn claim, name claim as display name", () => {
    expect(byOp("SecretSet").actor).toMatchObject({
      principal: "Grace.Hopper@example.com",
      type: "human",
      display_name: "Grace Hopper",
      links: ["human:grace.hopper@example.com", "azure-app:77777777-7777-4777-8777-777777777777"],
    });
    expect(byOp("SecretSet").attrs.object_version).toBe("fedcba9876543210fedcba9876543210");
  });

  it("key operations are reads of the key; Managed HSM hosts name the HSM", () => {
    expect(byOp("KeyDecrypt")).toMatchObject({
      verb: "read",
      resource: { uri: "azure-keyvault://ml-kv-example/keys/disk-kek", type: "key" },
    });
    expect(byOp("KeySign").verb).toBe("read");
    expect(byOp("KeyUnwrap").resource.uri).toBe("azure-keyvault://ml-hsm-example/keys/cmk");
  });

  it("denials: 401 challenge without identity, 403 by RBAC with its description, status only in resultSignature", () => {
    expect(byOp("Authentication")).toMatchObject({
      outcome: "failure",
      status_code: 401,
      reason: "Unauthorized",
      actor: { principal: "anonymous", links: [] },
      resource: { uri: "azure-keyvault://ml-kv-example/secrets/hf-token", type: "secret" },
    });
    const denied = byOp("SecretGet", 1);
    expect(denied).toMatchObject({ outcome: "failure", status_code: 403 });
    expect(denied.reason).toMatch(/^Forbidden: Caller is not authorized to perform action on resource\.$/);
    expect(denied.attrs.is_rbac_authorized).toBe("false");
    // resultType says Success for denied requests; with no httpStatusCode the signature decides.
    expect(byOp("SecretGet", 2)).toMatchObject({ outcome: "failure", status_code: 404, reason: "NotFound" });
  });

  it("policy reads are reads, sub-resource paths are not versions; GetDeleted reads; VaultPatch updates", () => {
    expect(byOp("CertificatePolicyGet")).toMatchObject({
      verb: "read",
      resource: { uri: "azure-keyvault://ml-kv-example/certificates/tls-frontend" },
    });
    expect(byOp("CertificatePolicyGet").attrs.object_version).toBeUndefined();
    expect(byOp("KeyRotationPolicyGet")).toMatchObject({ verb: "read" });
    expect(byOp("KeyRotationPolicyGet").attrs.object_version).toBeUndefined();
    expect(byOp("SecretGetDeleted")).toMatchObject({
      verb: "read",
      resource: { uri: "azure-keyvault://ml-kv-example/secrets/old-token", type: "secret" },
    });
    expect(byOp("VaultPatch")).toMatchObject({
      verb: "update",
      resource: { uri: "azure-keyvault://ml-kv-example" },
    });
    expect(byOp("VaultGet").resource).toMatchObject({ uri: "azure-keyvault://ml-kv-example", type: "vault" });
  });

  it("storage PT1H.json lines (CRLF) are the same events", () => {
    const st = run(azureKeyVault, fixture("azure-keyvault/storage-pt1h.ndjson"));
    expect(st.rejected).toEqual([]);
    expect(st.events.map((e) => e.id)).toEqual(eh.events.slice(0, 3).map((e) => e.id));
  });
});

describe("azure-keyvault: Log Analytics rows", () => {
  it("AzureDiagnostics rows as `az monitor log-analytics query` prints them (all text) = the records", () => {
    const la = run(azureKeyVault, fixture("azure-keyvault/azurediagnostics-az-cli.json"));
    expect(la).toMatchObject({ rejected: [], failed: [] });
    const want = [eh.events[0], byOp("SecretSet"), byOp("SecretGet", 1), byOp("KeyDecrypt")];
    expect(la.events.map((e) => e.id)).toEqual(want.map((e) => e.id));
    for (const [i, e] of la.events.entries()) {
      const w = want[i];
      expect(e).toMatchObject({
        time: w.time,
        verb: w.verb,
        outcome: w.outcome,
        status_code: w.status_code,
        resource: w.resource,
        src_ip: w.src_ip,
        user_agent: w.user_agent,
      });
      expect(e.actor).toEqual(w.actor);
      expect(e.attrs.is_rbac_authorized).toBe(w.attrs.is_rbac_authorized);
    }
  });

  it("AZKVAuditLogs through the query API (tables/columns/rows, Identity as JSON text)", () => {
    const q = run(azureKeyVault, fixture("azure-keyvault/azkvauditlogs-query-api.json"));
    expect(q).toMatchObject({ rejected: [], failed: [] });
    const want = [byOp("SecretList"), byOp("KeySign"), byOp("Authentication")];
    expect(q.events.map((e) => e.id)).toEqual(want.map((e) => e.id));
    expect(q.events[0].actor).toEqual(want[0].actor);
    expect(q.events[2]).toMatchObject({ outcome: "failure", status_code: 401 });
  });

  it('`{"value":[…]}` lists; rows of other tables or providers are rejected with a reason', () => {
    const rows = JSON.parse(fixture("azure-keyvault/azurediagnostics-az-cli.json"));
    expect(run(azureKeyVault, JSON.stringify({ value: rows })).events).toHaveLength(4);
    const other = [
      { ...rows[0], Type: "AzureActivity" },
      { ...rows[0], ResourceProvider: "MICROSOFT.SQL", Category: "SQLSecurityAuditEvents" },
    ];
    const r = run(azureKeyVault, JSON.stringify(other));
    expect(r.events).toHaveLength(0);
    expect(r.rejected).toHaveLength(2);
    for (const reason of r.rejected)
      expect(reason).toMatch(/^Log Analytics row is not a Key Vault AuditEvent/);
  });

  it("only descriptive properties leave the collector from a row", () => {
    const row = JSON.parse(fixture("azure-keyvault/azurediagnostics-az-cli.json"))[0];
    row.value_s = "PLANTED-ROW-VALUE";
    row.secretProperties_value_s = "PLANTED-ROW-SECRET";
    const r = run(azureKeyVault, JSON.stringify(row));
    expect(r.events).toHaveLength(1);
    expect(JSON.stringify(r.wire)).not.toMatch(PLANT);
    expect(one(azureKeyVault, JSON.stringify(row)).resource.uri).toBe(
      "azure-keyvault://ml-kv-example/secrets/hf-token",
    );
  });
});
