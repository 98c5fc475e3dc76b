/**
 * Scenario: a second ML stack spread over Google Cloud (GKE workload-identity service account reading
 * Cloud Storage and Secret Manager), Azure Key Vault (an app's managed identity) and MinIO (a feature
 * pipeline's service account) plus people in the console, for three weeks; then attacks from the threat
 * model: a person reading the training corpus at 02:30 (exfiltration, 3 a.m. access), service-account
 * impersonation by a person (privilege escalation), secret enumeration by the training identity, a
 * weekend-night Key Vault read by an app that only works weekday mornings, a MinIO bulk export, and a
 * burst of denied Key Vault reads. Records in the vendors' formats through the real parsers, resolver and
 * detector pipeline into embedded ClickHouse, as in ml-platform.test.ts.
 */
import { rmSync } from "node:fs";
import { type Config, parseConfig } from "@identrail/config";
import { createDetectorPipeline } from "@identrail/detector";
import { type Severity, severityRank } from "@identrail/schema";
import { createStoreClient, migrate, type StoreClient } from "@identrail/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/runtime";
import { at, gcpEntry, keyVaultEvent, minioEvent, normalizer, type Raw } from "./formats";

const TRAINER = "trainer@acme-ml.iam.gserviceaccount.com";
const GCP_TRAINER = `gcp-sa:${TRAINER}`;
const APP = "0f3c9a52-7e1d-4c55-9a51-6b8d2f4e1a07";
const AZ_APP = `azure-app:${APP}`;
const FEATURES = "minio-user:feature-pipeline";
const MALLORY = "human:mallory@example.com";
const DAVE = "human:dave@example.com";
const NORMAL_DAYS = 21;
const ATTACK_START = at(NORMAL_DAYS, 0);

const config: Config = parseConfig({
  default_cluster: "prod",
  resources: [
    {
      match: "gs://acme-ml-data/**",
      kind: "dataset",
      environment: "prod",
      consumers: [TRAINER, GCP_TRAINER],
    },
    { match: "gs://acme-ml-ckpt/**", kind: "checkpoint", environment: "prod", producers: [GCP_TRAINER] },
    { match: "minio://features/**", kind: "dataset", environment: "prod" },
  ],
});

const EXPECTED: [string, string][] = [
  ["artifact-exfiltration", MALLORY],
  ["off-hours-access", MALLORY],
  ["privilege-escalation", MALLORY],
  ["secret-enumeration", GCP_TRAINER],
  ["secret-read-unusual", AZ_APP],
  ["off-hours-access", AZ_APP],
  ["artifact-exfiltration", FEATURES],
  ["access-denied-burst", DAVE],
];
const ACCEPTABLE: [string, string][] = [
  ["secret-read-unusual", GCP_TRAINER],
  ["off-hours-access", DAVE],
  // The bulk export also ran at 13:00, outside the pipeline's learned 04:00 schedule.
  ["off-hours-access", FEATURES],
];

const sm = (secret: string) => `projects/acme-ml/secrets/${secret}/versions/latest`;
const ACCESS = "google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion";

function day(d: number): Raw[] {
  const out: Raw[] = [];
  const weekday = d % 7 < 5;
  // Nightly training on GKE as the Google service account (workload identity).
  out.push(
    gcpEntry({
      time: at(d, 1, 0),
      principal: TRAINER,
      service: "secretmanager.googleapis.com",
      method: ACCESS,
      resourceName: sm("hf-token"),
    }),
  );
  for (let i = 0; i < 4; i++)
    out.push(
      gcpEntry({
        time: at(d, 1, 5 + i),
        principal: TRAINER,
        service: "storage.googleapis.com",
        method: "storage.objects.get",
        resourceName: `projects/_/buckets/acme-ml-data/objects/corpus/part-${i}.jsonl`,
      }),
    );
  out.push(
    gcpEntry({
      time: at(d, 2, 30),
      principal: TRAINER,
      service: "storage.googleapis.com",
      method: "storage.objects.create",
      resourceName: `projects/_/buckets/acme-ml-ckpt/objects/run-${d}/ckpt.pt`,
    }),
  );
  // Feature pipeline exports the day's features from MinIO at 04:00.
  out.push(
    minioEvent({
      time: at(d, 4, 0),
      parentUser: "feature-pipeline",
      accessKey: "FEATURESVCACCT01",
      api: "GetObject",
      bucket: "features",
      object: `daily/${d}.parquet`,
      tx: 900_000_000 + ((d * 7_919_000) % 200_000_000),
    }),
  );
  out.push(
    minioEvent({
      time: at(d, 4, 5),
      parentUser: "feature-pipeline",
      accessKey: "FEATURESVCACCT01",
      api: "PutObject",
      bucket: "features",
      object: `daily/${d}.summary.json`,
      rx: 4096,
    }),
  );
  if (!weekday) return out;
  // The serving app reads its key at 10:00 on weekdays; people work in the console.
  out.push(keyVaultEvent({ time: at(d, 10, 0), appid: APP, vault: "ml-kv", secret: "openai-key" }));
  out.push(
    keyVaultEvent({ time: at(d, 11, 0), upn: "dave@example.com", vault: "ml-kv", secret: "openai-key" }),
  );
  out.push(
    gcpEntry({
      time: at(d, 14, 0),
      principal: "carol@example.com",
      service: "storage.googleapis.com",
      method: "storage.objects.get",
      resourceName: "projects/_/buckets/acme-ml-docs/objects/README.md",
    }),
  );
  return out;
}

function attacks(d: number): Raw[] {
  const out: Raw[] = [];
  if (d === 21) {
    out.push(
      gcpEntry({
        time: at(d, 2, 30),
        principal: "mallory@example.com",
        service: "storage.googleapis.com",
        method: "storage.objects.get",
        resourceName: "projects/_/buckets/acme-ml-data/objects/corpus/part-1.jsonl",
      }),
    );
    out.push(
      gcpEntry({
        time: at(d, 2, 40),
        principal: "mallory@example.com",
        service: "iamcredentials.googleapis.com",
        method: "GenerateAccessToken",
        resourceName: `projects/-/serviceAccounts/${TRAINER}`,
      }),
    );
    for (let i = 0; i < 15; i++)
      out.push(
        keyVaultEvent({
          time: at(d, 11, 20, i * 30),
          upn: "dave@example.com",
          vault: "ml-kv",
          secret: `prod-secret-${i}`,
          status: 403,
        }),
      );
  }
  if (d === 22) {
    for (let i = 0; i < 8; i++)
      out.push(
        gcpEntry({
          time: at(d, 1, 20, i * 20),
          principal: TRAINER,
          service: "secretmanager.googleapis.com",
          method: ACCESS,
          resourceName: sm(`team-${i}-db`),
        }),
      );
    for (let i = 0; i < 25; i++)
      out.push(
        minioEvent({
          time: at(d, 13, i),
          parentUser: "feature-pipeline",
          accessKey: "FEATURESVCACCT01",
          api: "GetObject",
          bucket: "features",
          object: `history/${i}.parquet`,
          tx: 8_000_000_000,
        }),
      );
  }
  if (d === 26)
    out.push(keyVaultEvent({ time: at(d, 3, 0), appid: APP, vault: "ml-kv", secret: "prod-db-password" }));
  return out;
}

let store: StoreClient;
let dir: string;
let alerts: {
  rule: string;
  identity_id: string;
  severity: Severity;
  first_seen: string;
  last_seen: string;
  title: string;
}[] = [];

beforeAll(async () => {
  dir = tempDir("identrail-multicloud-");
  store = await createStoreClient({ dataDir: dir });
  await migrate(store.ch);
  const normalize = normalizer(config);
  const pipeline = createDetectorPipeline({ ch: store.ch, config, stopping: () => false });
  let offset = 0;
  for (let d = 0; d <= 26; d++) {
    const { events } = normalize([...day(d), ...(d >= NORMAL_DAYS ? attacks(d) : [])]);
    await pipeline.handle({
      topic: "identrail.events",
      partition: 1,
      messages: events.map((e) => ({
        topic: "identrail.events",
        partition: 1,
        offset: String(offset++),
        key: e.identity_id,
        value: JSON.stringify(e),
      })),
    });
  }
  const rs = await store.ch.query({
    query:
      "SELECT rule, identity_id, severity, first_seen, last_seen, title FROM alerts FINAL ORDER BY first_seen",
    format: "JSONEachRow",
  });
  alerts = (await rs.json()) as typeof alerts;
}, 600_000);

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const chIso = (s: string) => `${s.replace(" ", "T")}Z`;
const aboveLow = (a: { severity: Severity }) => severityRank(a.severity) > severityRank("low");

describe("multi-cloud scenario: GCP, Azure Key Vault and MinIO", () => {
  it("raises nothing above low during the normal weeks", () => {
    const loud = alerts.filter((a) => chIso(a.first_seen) < ATTACK_START && aboveLow(a));
    expect(loud.map((a) => `${a.severity} ${a.rule} ${a.identity_id}: ${a.title}`)).toEqual([]);
  });

  it("raises each attack's rule for the right identity; prints precision and recall per rule", () => {
    const raised = alerts.filter((a) => chIso(a.last_seen) >= ATTACK_START && aboveLow(a));
    const key = (r: string, i: string) => `${r}|${i}`;
    const expected = new Set(EXPECTED.map(([r, i]) => key(r, i)));
    const ok = new Set([...expected, ...ACCEPTABLE.map(([r, i]) => key(r, i))]);
    const got = new Set(raised.map((a) => key(a.rule, a.identity_id)));
    const rules = [...new Set([...EXPECTED.map(([r]) => r), ...raised.map((a) => a.rule)])].sort();
    const rows = rules.map((rule) => {
      const mine = [...got].filter((k) => k.startsWith(`${rule}|`));
      const exp = [...expected].filter((k) => k.startsWith(`${rule}|`));
      const tp = mine.filter((k) => ok.has(k)).length;
      const recall = exp.length ? exp.filter((k) => got.has(k)).length / exp.length : 1;
      return `${rule.padEnd(32)} raised=${mine.length} tp=${tp} fp=${mine.length - tp} precision=${(mine.length ? tp / mine.length : 1).toFixed(2)} recall=${recall.toFixed(2)}`;
    });
    console.log(`multi-cloud precision/recall:\n${rows.join("\n")}`);
    console.log(
      raised.map((a) => `  ${a.severity.padEnd(6)} ${a.rule} ${a.identity_id}: ${a.title}`).join("\n"),
    );
    expect([...expected].filter((k) => !got.has(k))).toEqual([]);
    expect([...got].filter((k) => !ok.has(k))).toEqual([]);
  });
});
