/**
 * Secrets are never stored: known secret values are planted in Kubernetes Secret bodies (valid and
 * invalid records), TokenRequest responses, Vault responses and CloudTrail responses, sent through the
 * real endpoints, and then every store is searched — the bus log files, every ClickHouse table
 * (events, identity events, dead letters …) and the API's answers.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Runtime, startRuntime } from "@identrail/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent } from "./helpers/k8s";
import { ADMIN_TOKEN, auth, testConfig, waitFor } from "./helpers/runtime";

const PLANT = "PLANTED-S3CR3T";
const B64 = Buffer.from(PLANT).toString("base64");
const NEEDLES = [PLANT, B64];

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime(testConfig());
});
afterAll(async () => {
  await rt?.stop();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe("no secret value reaches any store", () => {
  it("plants secrets in every source and finds none of them afterwards", async () => {
    const sa = "system:serviceaccount:ml:trainer";
    const secretBody = {
      kind: "Secret",
      apiVersion: "v1",
      metadata: {
        name: "hf-token",
        namespace: "ml",
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": `{"data":{"t":"${B64}"}}` },
      },
      data: { token: B64 },
      stringData: { token: PLANT },
    };
    const k8s = [
      k8sEvent({
        user: sa,
        verb: "create",
        resource: "secrets",
        namespace: "ml",
        name: "hf-token",
        time: at("2026-11-05", 0),
        requestObject: secretBody,
        responseObject: secretBody,
      }),
      k8sEvent({
        user: sa,
        verb: "list",
        resource: "secrets",
        namespace: "ml",
        time: at("2026-11-05", 0, 11),
        responseObject: { kind: "SecretList", items: [secretBody] },
      }),
      k8sEvent({
        user: sa,
        verb: "create",
        resource: "serviceaccounts",
        subresource: "token",
        namespace: "ml",
        name: "trainer",
        time: at("2026-11-05", 0, 12),
        responseObject: { kind: "TokenRequest", status: { token: PLANT } },
      }),
      k8sEvent({
        user: sa,
        verb: "create",
        resource: "configmaps",
        namespace: "ml",
        name: "cfg",
        time: at("2026-11-05", 0, 13),
        requestObject: { kind: "List", items: [secretBody] },
      }),
      // Invalid (no auditID) but carrying a Secret: its dead-letter payload must be redacted too.
      {
        ...k8sEvent({
          user: sa,
          verb: "get",
          resource: "secrets",
          namespace: "ml",
          name: "x",
          time: at("2026-11-05", 0, 14),
          responseObject: secretBody,
        }),
        auditID: "",
      },
    ];
    const r1 = await rt.app.inject({
      method: "POST",
      url: "/ingest/k8s-audit?cluster=prod",
      headers: { ...auth(ADMIN_TOKEN), "content-type": "application/json" },
      payload: eventList(k8s),
    });
    expect(r1.json()).toMatchObject({ accepted: 4, rejected: 1 });

    const vault = {
      time: "2026-11-05T10:00:00.000Z",
      type: "response",
      auth: {
        client_token: "hmac-sha256:aaaa",
        accessor: "hmac-sha256:bbbb",
        display_name: "kubernetes-ml-trainer",
        entity_id: "3f0a0c6e-1111-2222-3333-444455556666",
        metadata: { service_account_name: "trainer", service_account_namespace: "ml", role: "trainer" },
        policies: ["default", "ml"],
      },
      request: {
        id: "req-1",
        operation: "read",
        path: "secret/data/ml/hf",
        mount_type: "kv",
        remote_address: "192.0.2.20",
      },
      response: { data: { data: { token: PLANT }, metadata: { version: 1 } } },
    };
    const r2 = await rt.app.inject({
      method: "POST",
      url: "/ingest/vault?cluster=prod",
      headers: { ...auth(ADMIN_TOKEN), "content-type": "application/x-ndjson" },
      payload: JSON.stringify(vault),
    });
    expect(r2.statusCode).toBe(200);

    const ct = {
      Records: [
        {
          eventVersion: "1.08",
          userIdentity: {
            type: "AssumedRole",
            principalId: "AROAEXAMPLE:s1",
            arn: "arn:aws:sts::123456789012:assumed-role/Trainer/s1",
            accountId: "123456789012",
            sessionContext: {
              sessionIssuer: {
                type: "Role",
                arn: "arn:aws:iam::123456789012:role/Trainer",
                accountId: "123456789012",
                userName: "Trainer",
              },
            },
          },
          eventTime: "2026-11-05T10:05:00Z",
          eventSource: "secretsmanager.amazonaws.com",
          eventName: "GetSecretValue",
          awsRegion: "eu-west-1",
          sourceIPAddress: "192.0.2.30",
          userAgent: "aws-sdk",
          requestParameters: { secretId: "prod/db" },
          responseElements: { secretString: PLANT, secretBinary: B64 },
          eventID: "6b0d5c3e-0000-0000-0000-000000000001",
          eventType: "AwsApiCall",
          recipientAccountId: "123456789012",
        },
      ],
    };
    const r3 = await rt.app.inject({
      method: "POST",
      url: "/ingest/cloudtrail?cluster=prod",
      headers: { ...auth(ADMIN_TOKEN), "content-type": "application/json" },
      payload: ct,
    });
    expect(r3.json().accepted).toBe(1);

    await waitFor(async () => {
      const rs = await rt.store!.ch.query({
        query: "SELECT count() AS n FROM events",
        format: "JSONEachRow",
      });
      const [row] = (await rs.json()) as { n: number }[];
      return Number(row.n) >= 5;
    });
    await waitFor(async () => {
      const rs = await rt.store!.ch.query({
        query: "SELECT count() AS n FROM dead_letters",
        format: "JSONEachRow",
      });
      const [row] = (await rs.json()) as { n: number }[];
      return Number(row.n) >= 1;
    });

    // 1. The bus (what would be Kafka): every segment file.
    const busFiles = filesUnder(join(rt.config.data_dir, "bus"));
    expect(busFiles.length).toBeGreaterThan(0);
    for (const f of busFiles)
      for (const n of NEEDLES) expect(readFileSync(f, "utf8").includes(n), f).toBe(false);

    // 2. Every ClickHouse table, every column.
    const tables = (await (
      await rt.store!.ch.query({
        query: "SELECT name FROM system.tables WHERE database = currentDatabase()",
        format: "JSONEachRow",
      })
    ).json()) as { name: string }[];
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(["events", "dead_letters", "identity_events"]),
    );
    for (const { name } of tables) {
      const rs = await rt.store!.ch.query({
        query: "SELECT * FROM {t:Identifier}",
        query_params: { t: name },
        format: "JSONEachRow",
      });
      const text = JSON.stringify(await rs.json());
      for (const n of NEEDLES) expect(text.includes(n), `table ${name}`).toBe(false);
    }

    // 3. What the API serves.
    for (const url of [
      "/api/v1/alerts",
      `/api/v1/identities/${encodeURIComponent(sa)}/timeline?from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z`,
    ]) {
      const r = await rt.app.inject({ url, headers: auth(ADMIN_TOKEN) });
      expect(r.statusCode).toBe(200);
      for (const n of NEEDLES) expect(r.body.includes(n), url).toBe(false);
    }
  });
});
