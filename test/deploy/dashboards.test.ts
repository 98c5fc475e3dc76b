// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana variable syntax (${var:format}) in plain strings
/**
 * Every Grafana panel query, expanded the way Grafana and grafana-clickhouse-datasource expand it
 * (see grafana-macros.ts), runs against the real schema (chDB + migrations) with seeded data.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { registry } from "@identrail/core";
import { chTime, createStoreClient, migrate, type StoreClient } from "@identrail/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { CLICKHOUSE_DS, DASHBOARDS, JSON_DIR, PROMETHEUS_DS, renderAll } from "../../dashboards/build";
import { tempDir } from "../helpers/runtime";
import {
  applyBackendMacros,
  applyConditionalAll,
  expandQuery,
  interpolateVariables,
  type MacroContext,
  type VariableValue,
} from "./grafana-macros";

const ROOT = resolve(__dirname, "../..");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Math.floor(Date.now() / HOUR) * HOUR - HOUR; // whole hour, one hour back so "now" seeds stay in range
const at = (msAgo: number) => chTime(NOW - msAgo);

const A = "k8s-sa:prod:ml-training:fine-tuning-job";
const A_ROLE = "aws-role:123456789012:ml-training-irsa";
const A_VAULT = "vault-entity:5c2a7e0e-0d7b-4c3e-9d0a-1f2e3d4c5b6a";
const B = "k8s-sa:prod:ml-serving:model-server";
const C = "human:alice@example.com";
const D = "gcp-sa:trainer@ml-project.iam.gserviceaccount.com";
const E = "k8s-sa:prod:research:notebook";

const FROM = new Date(NOW - 7 * DAY);
const TO = new Date(NOW + HOUR);
const INTERVAL_S = 3600;

interface Dashboard {
  uid: string;
  title: string;
  templating: { list: any[] };
  panels: any[];
}

function loadDashboards(): Dashboard[] {
  return readdirSync(JSON_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(JSON_DIR, f), "utf8")));
}

let store: StoreClient;
let ch: ClickHouseClient;
let dir: string;

async function insert(table: string, values: object[]) {
  await ch.insert({ table, values, format: "JSONEachRow" });
}

async function rowsOf(sql: string): Promise<Record<string, unknown>[]> {
  const rs = await ch.query({ query: sql, format: "JSONEachRow" });
  return (await rs.json()) as Record<string, unknown>[];
}

let eventSeq = 0;
function event(identity: string, source: string, ago: number, extra: Record<string, unknown> = {}) {
  eventSeq++;
  return {
    id: `evt-${eventSeq}`,
    time: at(ago),
    received_at: at(ago - 20_000),
    source,
    cluster: "prod",
    identity_id: identity,
    principal: identity.split(":").slice(1).join(":"),
    principal_type: identity.startsWith("human:") ? "human" : "service_account",
    credential_id: "",
    impersonated: "",
    groups: [],
    operation: "get",
    verb: "read",
    resource_uri: "k8s://prod/ml-training/configmaps/settings",
    resource_type: "configmaps",
    namespace: "ml-training",
    src_ip: "192.0.2.10",
    user_agent: "python-requests/2.32",
    outcome: "success",
    status_code: 200,
    reason: "",
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: `ref-${eventSeq}`,
    attrs: {},
    ...extra,
  };
}

let ieSeq = 0;
function identityEvent(
  identity: string,
  kind: string,
  source: string,
  ago: number,
  extra: {
    resource_uri?: string;
    resource_kind?: string;
    bytes?: number;
    attrs?: Record<string, string>;
  } = {},
) {
  ieSeq++;
  return {
    id: `ie-${ieSeq}`,
    identity_id: identity,
    kind,
    time: at(ago),
    event_id: `evt-src-${ieSeq}`,
    source,
    resource_uri: extra.resource_uri ?? "",
    resource_kind: extra.resource_kind ?? "",
    bytes: extra.bytes ?? 0,
    attrs: extra.attrs ?? {},
  };
}

function alert(
  id: string,
  rule: string,
  severity: string,
  identity: string,
  firstAgo: number,
  lastAgo: number,
) {
  return {
    id,
    rule,
    severity,
    identity_id: identity,
    title: `${rule} for ${identity}`,
    description: "",
    resource: "",
    group_key: `${rule}|${identity}`,
    first_seen: at(firstAgo),
    last_seen: at(lastAgo),
    count: 1,
    labels: { namespace: "ml-training", environment: "prod" },
    mitre: [],
    created_at: at(firstAgo),
    version: 1,
  };
}

async function seed() {
  const ids = [A, B, C, D, E];
  await insert(
    "identities",
    ids.map((id) => ({
      id,
      type: id.startsWith("human:") ? "human" : "service_account",
      display_name: id,
      cluster: "prod",
      namespace: id.split(":")[2] ?? "",
      environment: "prod",
      owner: id === A ? "ml-platform@example.com" : "",
      purpose: id === A ? "fine-tuning" : "",
      expires_at: null,
      attrs: {},
      updated_at: at(10 * DAY),
    })),
  );
  await insert(
    "identity_seen",
    ids.map((id) => ({ id, first_seen: at(30 * DAY), last_seen: at(HOUR) })),
  );
  const alias = (a: string, id: string, kind: string, origin: string) => ({
    alias: a,
    identity_id: id,
    kind,
    origin,
    first_seen: at(20 * DAY),
    last_seen: at(HOUR),
  });
  await insert("identity_aliases", [
    alias(A, A, "k8s-sa", "k8s-audit"),
    alias(A_ROLE, A, "aws-role", "cloudtrail"),
    alias(A_VAULT, A, "vault-entity", "vault"),
    alias("credential:prod:0f9e8d7c", A, "credential", "k8s-audit"),
    alias(B, B, "k8s-sa", "k8s-audit"),
    alias(C, C, "human", "k8s-audit"),
    alias(D, D, "gcp-sa", "gcp-audit"),
    alias(E, E, "k8s-sa", "inventory"),
  ]);

  // Normalized events from every source, over the last three days.
  const events = [];
  const sources = [
    "k8s-audit",
    "vault",
    "cloudtrail",
    "gcp-audit",
    "azure-keyvault",
    "s3-access",
    "minio",
    "inventory",
  ];
  for (let h = 1; h <= 72; h += 3)
    for (const [i, source] of sources.entries())
      for (const [j, id] of ids.entries()) events.push(event(id, source, h * HOUR + i * 60_000 + j * 1000));
  events.push(
    event(C, "k8s-audit", 5 * HOUR, {
      resource_uri: "k8s://prod/ml-training/secrets/hf-token",
      resource_type: "secrets",
      outcome: "failure",
      status_code: 403,
      reason: "forbidden",
    }),
    event(B, "vault", 6 * HOUR, {
      resource_uri: "vault://secret/data/ml/wandb",
      resource_type: "vault-secret",
      outcome: "failure",
      status_code: 403,
      reason: "permission denied",
    }),
    event(A, "cloudtrail", 7 * HOUR, {
      resource_uri: "aws-secretsmanager://123456789012/us-east-1/prod/db",
      resource_type: "secret",
      outcome: "failure",
      status_code: 403,
      reason: "AccessDenied",
    }),
  );
  await insert("events", events);

  const ie = [
    identityEvent(A, "secret_read", "k8s-audit", 2 * HOUR, {
      resource_uri: "k8s://prod/ml-training/secrets/hf-token",
      resource_kind: "secret",
    }),
    identityEvent(A, "secret_read", "vault", 3 * HOUR, {
      resource_uri: "vault://secret/data/ml/wandb",
      resource_kind: "secret",
    }),
    identityEvent(A, "secret_read", "cloudtrail", 4 * HOUR, {
      resource_uri: "aws-secretsmanager://123456789012/us-east-1/prod/db",
      resource_kind: "secret",
    }),
    // A read this secret long before the range too: not a first-time reader of it.
    identityEvent(A, "secret_read", "cloudtrail", 20 * DAY, {
      resource_uri: "aws-secretsmanager://123456789012/us-east-1/prod/db",
      resource_kind: "secret",
    }),
    identityEvent(D, "secret_read", "gcp-audit", 5 * HOUR, {
      resource_uri: "gcp-secretmanager://projects/ml-project/secrets/hf-token",
      resource_kind: "secret",
    }),
    identityEvent(B, "secret_read", "azure-keyvault", 6 * HOUR, {
      resource_uri: "azure-keyvault://ml-vault/secrets/registry-password",
      resource_kind: "secret",
    }),
    identityEvent(C, "secret_list", "k8s-audit", 8 * HOUR, {
      resource_uri: "k8s://prod/ml-training/secrets",
      resource_kind: "secret",
    }),
    identityEvent(A, "artifact_transfer", "s3-access", 9 * HOUR, {
      resource_uri: "s3://ml-datasets/corpus/shard-0001.parquet",
      resource_kind: "dataset",
      bytes: 5_000_000_000,
      attrs: { direction: "read" },
    }),
    identityEvent(A, "artifact_transfer", "cloudtrail", 10 * HOUR, {
      resource_uri: "s3://ml-checkpoints/llama/step-1000/model.safetensors",
      resource_kind: "checkpoint",
      bytes: 14_000_000_000,
      attrs: { direction: "write" },
    }),
    identityEvent(B, "artifact_transfer", "minio", 11 * HOUR, {
      resource_uri: "minio://models/llama/v3/model.safetensors",
      resource_kind: "model",
      bytes: 14_000_000_000,
      attrs: { direction: "read" },
    }),
    identityEvent(C, "artifact_transfer", "cloudtrail", 12 * HOUR, {
      resource_uri: "s3://exfil-bucket.example.com/model.safetensors",
      resource_kind: "model",
      bytes: 14_000_000_000,
      attrs: {
        direction: "copy",
        copy_source: "s3://ml-models/llama/v3/model.safetensors",
        destination: "s3://exfil-bucket.example.com",
      },
    }),
    identityEvent(D, "artifact_transfer", "gcp-audit", 13 * HOUR, {
      resource_uri: "gs://ml-datasets-eu/train/part-7.jsonl",
      resource_kind: "object",
      bytes: 1_000_000,
      attrs: { direction: "read" },
    }),
    // A's fine-tuning job: 4 GPUs for exactly two hours (K8s audit create, inventory end).
    identityEvent(A, "gpu_job", "k8s-audit", 30 * HOUR, {
      resource_uri: "k8s://prod/ml-training/jobs/finetune-llama",
      attrs: {
        namespace: "ml-training",
        workload: "finetune-llama",
        creator: C,
        gpu_count: "4",
        images: "registry.example.com/ml/trainer:1.4,registry.example.com/ml/sidecar:0.3",
        active_deadline_seconds: "86400",
      },
    }),
    identityEvent(A, "job_lifecycle", "inventory", 30 * HOUR, {
      resource_uri: "k8s://prod/ml-training/jobs/finetune-llama",
      attrs: { phase: "start", lifecycle: "start", namespace: "ml-training", workload: "finetune-llama" },
    }),
    identityEvent(A, "job_lifecycle", "inventory", 28 * HOUR, {
      resource_uri: "k8s://prod/ml-training/jobs/finetune-llama/status",
      attrs: { phase: "end", lifecycle: "end", namespace: "ml-training", workload: "finetune-llama" },
    }),
    // Namespace unknown in attrs: taken from the k8s:// URI.
    identityEvent(B, "gpu_job", "k8s-audit", 20 * HOUR, {
      resource_uri: "k8s://prod/ml-serving/pods/vllm-0",
      attrs: {
        namespace: "",
        workload: "vllm-0",
        gpu_count: "1",
        images: "registry.example.com/ml/vllm:0.6",
      },
    }),
    // A notebook nobody expected on GPUs, still running.
    identityEvent(E, "gpu_job", "inventory", 3 * HOUR, {
      resource_uri: "k8s://prod/research/pods/notebook-0",
      attrs: {
        gpu_count: "8",
        images: "docker.io/example/miner:latest",
        namespace: "research",
        workload: "notebook-0",
      },
    }),
    identityEvent(C, "off_hours_access", "k8s-audit", 26 * HOUR, {
      resource_uri: "k8s://prod/ml-training/secrets/hf-token",
    }),
    identityEvent(C, "privilege_change", "k8s-audit", 25 * HOUR, {
      resource_uri: "k8s://prod/ml-training/rolebindings/admin",
    }),
    identityEvent(C, "access_denied", "k8s-audit", 5 * HOUR, {
      resource_uri: "k8s://prod/ml-training/secrets/hf-token",
    }),
    identityEvent(A, "identity_link", "cloudtrail", 40 * HOUR, { attrs: { alias: A_ROLE } }),
    identityEvent(B, "activity", "k8s-audit", 2 * HOUR, {
      resource_uri: "k8s://prod/ml-serving/configmaps/settings",
    }),
  ];
  await insert("identity_events", ie);

  const alerts = [
    alert("al-1", "gpu-job-unexpected", "critical", E, 3 * HOUR, 2 * HOUR),
    alert("al-2", "artifact-exfiltration", "critical", C, 12 * HOUR, 12 * HOUR),
    alert("al-3", "secret-read-unusual", "high", A, 4 * HOUR, 3 * HOUR),
    alert("al-4", "off-hours-access", "medium", C, 26 * HOUR, 26 * HOUR),
    alert("al-5", "privilege-escalation", "high", C, 25 * HOUR, 25 * HOUR),
    alert("al-6", "dormant-identity-active", "low", D, 50 * HOUR, 50 * HOUR),
  ];
  // The detector updated al-3 later (newer version wins under FINAL).
  alerts.push({
    ...alert("al-3", "secret-read-unusual", "high", A, 4 * HOUR, 2 * HOUR),
    count: 3,
    version: 2,
  });
  await insert("alerts", alerts);
  const state = (id: string, status: string, version: number) => ({
    alert_id: id,
    status,
    assignee: "soc@example.com",
    updated_at: at(HOUR),
    updated_by: "soc@example.com",
    version,
  });
  // al-2 acknowledged then resolved (newest version wins); al-5 acknowledged.
  await insert("alert_state", [
    state("al-2", "acknowledged", 1),
    state("al-2", "resolved", 2),
    state("al-5", "acknowledged", 1),
  ]);
  const change = (id: string, from: string, to: string, ago: number) => ({
    alert_id: id,
    at: at(ago),
    actor: "soc@example.com",
    action: to === "resolved" ? "resolve" : "ack",
    from_status: from,
    to_status: to,
    comment: "",
  });
  await insert("alert_history", [
    change("al-2", "open", "acknowledged", 3 * HOUR),
    change("al-2", "acknowledged", "resolved", 2 * HOUR),
    change("al-5", "open", "acknowledged", 2 * HOUR),
  ]);
  await insert("alert_evidence", [{ alert_id: "al-1", event_id: "evt-1", time: at(3 * HOUR) }]);
  await insert("dead_letters", [
    {
      id: "dl-1",
      time: at(2 * HOUR),
      stage: "collector",
      source: "vault",
      reason: "invalid JSON",
      payload: "",
      replayed_at: null,
    },
    {
      id: "dl-2",
      time: at(30 * HOUR),
      stage: "normalizer",
      source: "cloudtrail",
      reason: "unsupported eventVersion",
      payload: "{}",
      replayed_at: null,
    },
  ]);
}

beforeAll(async () => {
  dir = tempDir("identrail-dashboards-");
  store = await createStoreClient({ dataDir: dir });
  ch = store.ch;
  await migrate(ch);
  await seed();
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a dashboard's variable queries in order and selects All (or the first option) or `pick`. */
async function resolveVariables(
  d: Dashboard,
  pick: Record<string, string[]> = {},
): Promise<Record<string, VariableValue>> {
  const vars: Record<string, VariableValue> = {};
  for (const v of d.templating.list) {
    let options: string[];
    if (v.type === "custom") options = String(v.query).split(",");
    else {
      expect(v.datasource).toEqual(CLICKHOUSE_DS);
      const sql = expandQuery(v.query, { from: FROM, to: TO, intervalSeconds: INTERVAL_S, variables: vars });
      const rows = await rowsOf(sql);
      options = rows.map((r) => String(r.__value ?? Object.values(r)[0]));
    }
    expect(options.length, `variable ${d.uid}/${v.name} has options`).toBeGreaterThan(0);
    if (pick[v.name]) {
      for (const p of pick[v.name]) expect(options, `variable ${v.name} offers ${p}`).toContain(p);
      vars[v.name] = { values: pick[v.name], all: false };
    } else if (v.includeAll) vars[v.name] = { values: [...new Set(options)], all: true };
    else vars[v.name] = { values: [options[0]], all: false };
  }
  return vars;
}

async function runPanels(d: Dashboard, vars: Record<string, VariableValue>) {
  const ctx: MacroContext = { from: FROM, to: TO, intervalSeconds: INTERVAL_S, variables: vars };
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const p of d.panels) {
    if (p.datasource.uid !== CLICKHOUSE_DS.uid) continue;
    for (const t of p.targets) {
      const sql = expandQuery(t.rawSql, ctx);
      try {
        out[p.title] = await rowsOf(sql);
      } catch (e) {
        throw new Error(`${d.uid} / ${p.title}: ${(e as Error).message}\n${sql}`);
      }
    }
  }
  return out;
}

const byUid = (uid: string) => loadDashboards().find((d) => d.uid === uid)!;

describe("macro expansion follows the datasource", () => {
  const ctx: MacroContext = {
    from: new Date("2026-11-20T00:00:00Z"),
    to: new Date("2026-11-21T00:00:00Z"),
    intervalSeconds: 20,
    variables: {
      source: { values: ["vault", "o'brien"], all: false },
      rule: { values: ["a", "b"], all: true },
    },
  };

  it("expands the documented macros", () => {
    expect(applyBackendMacros("WHERE $__timeFilter(time)", ctx)).toBe(
      "WHERE time >= toDateTime(1795132800) AND time <= toDateTime(1795219200)",
    );
    expect(applyBackendMacros("$__timeInterval(t) x $__interval_s", ctx)).toBe(
      "toStartOfInterval(toDateTime(t), INTERVAL 20 second) x 20",
    );
    expect(applyBackendMacros("$__fromTime,$__toTime", ctx)).toBe(
      "toDateTime(1795132800),toDateTime(1795219200)",
    );
    expect(() => applyBackendMacros("$__timeFilterr(x)", ctx)).toThrow(/unknown macro/);
  });

  it("conditionalAll keeps the condition for a selection and drops it for All", () => {
    expect(
      applyConditionalAll("$__conditionalAll(s IN (${source:singlequote}), $source)", ctx.variables),
    ).toBe("s IN (${source:singlequote})");
    expect(applyConditionalAll("$__conditionalAll(r IN (${rule:singlequote}), ${rule})", ctx.variables)).toBe(
      "1=1",
    );
    expect(() => applyConditionalAll("$__conditionalAll(a, b, $rule)", ctx.variables)).toThrow(/2 arguments/);
  });

  it("quotes multi-value variables like Grafana's singlequote format", () => {
    expect(interpolateVariables("IN (${source:singlequote})", ctx.variables)).toBe(
      "IN ('vault','o\\'brien')",
    );
    expect(() => interpolateVariables("IN ($source)", ctx.variables)).toThrow(/singlequote/);
  });
});

describe("dashboards", () => {
  it("JSON is generated from dashboards/build.ts and up to date", () => {
    const rendered = renderAll();
    const files = readdirSync(JSON_DIR).filter((f) => f.endsWith(".json"));
    expect(files.sort()).toEqual(Object.keys(rendered).sort());
    for (const [file, text] of Object.entries(rendered))
      expect(
        readFileSync(join(JSON_DIR, file), "utf8"),
        `${file} is stale: node --import tsx dashboards/build.ts`,
      ).toBe(text);
  });

  it("has the six dashboards with unique uids and panels on known datasources", () => {
    const ds = loadDashboards();
    expect(ds.map((d) => d.uid).sort()).toEqual([
      "identrail-artifacts",
      "identrail-gpu-jobs",
      "identrail-identity-timeline",
      "identrail-pipeline-health",
      "identrail-secrets",
      "identrail-soc-overview",
    ]);
    for (const d of ds) {
      expect(d.panels.length).toBeGreaterThan(3);
      const ids = d.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of d.panels) {
        expect([CLICKHOUSE_DS.uid, PROMETHEUS_DS.uid]).toContain(p.datasource.uid);
        for (const t of p.targets) expect(t.datasource).toEqual(p.datasource);
      }
    }
  });

  it("Prometheus panels only use metrics the code registers", () => {
    // packages/core/src/metrics.ts registers every component's metrics when imported.
    const promPanels = loadDashboards().flatMap((d) =>
      d.panels.filter((p) => p.datasource.uid === PROMETHEUS_DS.uid),
    );
    const names = new Set<string>();
    for (const p of promPanels)
      for (const t of p.targets) for (const m of t.expr.matchAll(/\bidentrail_[a-z_]+/g)) names.add(m[0]);
    expect(names).toContain("identrail_detector_consumer_lag");
    expect([...names].some((n) => n.startsWith("identrail_detector_batch_seconds"))).toBe(true);
    for (const n of names) {
      const base = n.replace(/_(bucket|sum|count)$/, "");
      expect(
        registry.getSingleMetric(base) ?? registry.getSingleMetric(n),
        `metric ${n} is registered`,
      ).toBeTruthy();
    }
  });

  it("every ClickHouse query runs with All selected and every panel shows data", async () => {
    for (const d of loadDashboards()) {
      const vars = await resolveVariables(d);
      const results = await runPanels(d, vars);
      for (const p of d.panels.filter((x) => x.datasource.uid === CLICKHOUSE_DS.uid)) {
        const rows = results[p.title];
        expect(rows.length, `${d.uid} / ${p.title} shows data`).toBeGreaterThan(0);
        if (p.type === "timeseries")
          expect(Object.keys(rows[0])[0], `${p.title}: time column first`).toBe("bucket");
        if (p.type === "stat")
          expect(Number(Object.values(rows[0])[0]), `${p.title} counts something`).toBeGreaterThan(0);
      }
    }
  });

  it("SOC overview: status comes from the newest alert_state, alerts are deduplicated, filters apply", async () => {
    const d = byUid("identrail-soc-overview");
    const all = await runPanels(d, await resolveVariables(d));
    // al-1 open critical; al-2 critical but resolved.
    expect(Number((all["Open critical alerts"] as any[])[0].open_critical)).toBe(1);
    const list = all["Alerts"] as any[];
    expect(list.map((r) => r.id).sort()).toEqual(["al-1", "al-2", "al-3", "al-4", "al-5", "al-6"]);
    expect(list.find((r) => r.id === "al-2").status).toBe("resolved");
    expect(list.find((r) => r.id === "al-5").status).toBe("acknowledged");
    expect(list.find((r) => r.id === "al-3")).toMatchObject({ status: "open" });
    expect(Number(list.find((r) => r.id === "al-3").count)).toBe(3);

    expect(new Set((all["Analyst status changes"] as any[]).map((r) => r.to_status))).toEqual(
      new Set(["acknowledged", "resolved"]),
    );
    const picked = await runPanels(
      d,
      await resolveVariables(d, { severity: ["critical", "high"], status: ["open"] }),
    );
    expect((picked["Alerts"] as any[]).map((r) => r.id).sort()).toEqual(["al-1", "al-3"]);
    expect(picked["Analyst status changes"]).toEqual([]);
    expect((picked["Top identities by alerts"] as any[]).map((r) => r.identity_id).sort()).toEqual(
      [A, E].sort(),
    );
  });

  it("Identity timeline: an alias picks its canonical identity and shows it across sources", async () => {
    const d = byUid("identrail-identity-timeline");
    const idVar = d.templating.list.find((v) => v.name === "identity");
    const options = await rowsOf(
      expandQuery(idVar.query, { from: FROM, to: TO, intervalSeconds: INTERVAL_S, variables: {} }),
    );
    // Choosing the AWS role (text) selects the service account it belongs to (value).
    expect(options).toContainEqual({ __value: A, __text: A_ROLE });
    expect(options).toContainEqual({ __value: A, __text: A_VAULT });
    const r = await runPanels(d, await resolveVariables(d, { identity: [A] }));
    expect((r["Aliases"] as any[]).map((x) => x.alias)).toEqual(expect.arrayContaining([A, A_ROLE, A_VAULT]));
    expect((r["Identity"] as any[])[0]).toMatchObject({ id: A, owner: "ml-platform@example.com" });
    expect(new Set((r["Events"] as any[]).map((x) => x.source)).size).toBeGreaterThan(1);
    expect((r["Secret reads"] as any[]).length).toBe(3);
    expect((r["GPU jobs"] as any[])[0]).toMatchObject({ gpus: 4, namespace: "ml-training" });
    expect((r["Alerts"] as any[]).map((x) => x.id)).toEqual(["al-3"]);

    const vaultOnly = await runPanels(d, await resolveVariables(d, { identity: [A], source: ["vault"] }));
    expect((vaultOnly["Secret reads"] as any[]).map((x) => x.source)).toEqual(["vault"]);
  });

  it("Secrets: first-time readers exclude pairs read before the range; denied reads are listed", async () => {
    const d = byUid("identrail-secrets");
    const r = await runPanels(d, await resolveVariables(d));
    const first = (r["First-time readers"] as any[]).map((x) => `${x.identity_id} ${x.secret}`);
    expect(first).toContain(`${A} vault://secret/data/ml/wandb`);
    expect(first).not.toContain(`${A} aws-secretsmanager://123456789012/us-east-1/prod/db`);
    expect((r["Denied reads"] as any[]).length).toBe(3);
    expect(new Set((r["Reads per secret"] as any[]).flatMap((x) => x.sources.split(", ")))).toEqual(
      new Set(["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault"]),
    );
  });

  it("GPU jobs: GPU-hours from lifecycle, namespaces from inventory and audit URIs", async () => {
    const d = byUid("identrail-gpu-jobs");
    const r = await runPanels(d, await resolveVariables(d));
    const hours = Object.fromEntries(
      (r["GPU-hours by identity"] as any[]).map((x) => [x.identity_id, Number(x.gpu_hours)]),
    );
    expect(hours[A]).toBe(8); // 4 GPUs × 2 h
    expect(hours[E]).toBeGreaterThan(0); // still running: counts until the end of the range
    expect((r["GPU jobs by namespace"] as any[]).map((x) => x.namespace).sort()).toEqual([
      "ml-serving",
      "ml-training",
      "research",
    ]);
    expect((r["GPU jobs by image"] as any[]).map((x) => x.image)).toContain("docker.io/example/miner:latest");
    expect((r["Unexpected GPU jobs"] as any[])[0]).toMatchObject({ identity_id: E, severity: "critical" });

    const research = await runPanels(d, await resolveVariables(d, { namespace: ["research"] }));
    expect((research["GPU jobs by identity"] as any[]).map((x) => x.identity_id)).toEqual([E]);
  });

  it("Artifacts and pipeline health filter by their variables", async () => {
    const art = byUid("identrail-artifacts");
    const models = await runPanels(art, await resolveVariables(art, { kind: ["model"] }));
    expect(new Set((models["Transfers"] as any[]).map((x) => x.artifact_kind))).toEqual(new Set(["model"]));
    expect(models["Bytes by identity and destination"] as any[]).toContainEqual(
      expect.objectContaining({ identity_id: C, destination: "s3://exfil-bucket.example.com" }),
    );
    const ph = byUid("identrail-pipeline-health");
    const r = await runPanels(ph, await resolveVariables(ph, { source: ["vault", "minio"] }));
    expect((r["Freshness per source"] as any[]).map((x) => x.source).sort()).toEqual(["minio", "vault"]);
    expect((r["Dead letters"] as any[]).map((x) => x.id)).toEqual(["dl-1", "dl-2"]);
  });
});

describe("Grafana provisioning", () => {
  it("datasources carry the uids the dashboards use; the provider path is where compose mounts the JSON", () => {
    const ds = parseYaml(
      readFileSync(join(ROOT, "dashboards/provisioning/datasources/identrail.yaml"), "utf8"),
    );
    expect(ds.apiVersion).toBe(1);
    const byType = Object.fromEntries(ds.datasources.map((x: any) => [x.type, x]));
    expect(byType["grafana-clickhouse-datasource"].uid).toBe(CLICKHOUSE_DS.uid);
    expect(byType["grafana-clickhouse-datasource"].jsonData.defaultDatabase).toBe("identrail");
    expect(byType.prometheus.uid).toBe(PROMETHEUS_DS.uid);
    const prov = parseYaml(
      readFileSync(join(ROOT, "dashboards/provisioning/dashboards/identrail.yaml"), "utf8"),
    );
    expect(prov.providers[0].type).toBe("file");
    const compose = parseYaml(readFileSync(join(ROOT, "deploy/compose/docker-compose.yaml"), "utf8"));
    const mounts: string[] = compose.services.grafana.volumes;
    expect(
      mounts.some(
        (m) => m.endsWith(`:${prov.providers[0].options.path}:ro`) && m.includes("dashboards/json"),
      ),
    ).toBe(true);
    expect(DASHBOARDS.length).toBe(6);
  });
});
