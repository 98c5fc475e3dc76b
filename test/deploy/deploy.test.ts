/**
 * Deployment artifacts: kustomize overlays render with Debian's kubectl and every object validates
 * against the Kubernetes schemas; the hardening, probes, RBAC and wiring hold in the rendered output;
 * the audit policy assigns the intended levels; compose, Grafana provisioning, ClickHouse grant and
 * retention files parse and reference what exists.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { loadConfig } from "@identrail/config";
import { createStoreClient, migrate, type StoreClient, splitStatements } from "@identrail/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { DASHBOARDS } from "../../dashboards/build";
import { tempDir } from "../helpers/runtime";
import { unknownFields, validateObject } from "./k8s-schema";

const ROOT = resolve(__dirname, "../..");
const DEPLOY = join(ROOT, "deploy");
const OVERLAYS = ["single-binary", "distributed"];
const GOOD_TOKEN = "0123456789abcdef0123456789abcdef";

function kubectl(): string {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "pipe" });
    return "kubectl";
  } catch {
    throw new Error("kubectl not found: install Debian's kubectl package (apt-get install -y kubectl)");
  }
}

function render(overlay: string): any[] {
  const out = execFileSync(kubectl(), ["kustomize", join(DEPLOY, "kubernetes/overlays", overlay)], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseAllDocuments(out)
    .map((d) => d.toJS())
    .filter(Boolean);
}

const rendered: Record<string, any[]> = {};
beforeAll(() => {
  for (const o of OVERLAYS) rendered[o] = render(o);
});

const of = (objs: any[], kind: string) => objs.filter((o) => o.kind === kind);
const envOf = (c: any, name: string) => c.env?.find((e: any) => e.name === name);

/** The IDENTRAIL_CONFIG a container reads, taken from the ConfigMap mounted at /etc/identrail. */
function configFor(objs: any[], pod: any, c: any): string {
  const path = envOf(c, "IDENTRAIL_CONFIG")?.value as string;
  expect(path, "IDENTRAIL_CONFIG set").toMatch(/^\/etc\/identrail\/.+\.yaml$/);
  const mount = c.volumeMounts.find((m: any) => m.mountPath === dirname(path));
  const vol = pod.volumes.find((v: any) => v.name === mount.name);
  const cm = of(objs, "ConfigMap").find((x) => x.metadata.name === vol.configMap.name);
  expect(cm, `ConfigMap ${vol.configMap.name} rendered`).toBeTruthy();
  const text = cm.data[basename(path)];
  expect(text, `key ${basename(path)} in ${cm.metadata.name}`).toBeTypeOf("string");
  return text;
}

/** Environment of a container as Identrail sees it: literals, the backends ConfigMap, secrets as given. */
function containerEnv(objs: any[], c: any, secretValue: (key: string) => string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const cm = of(objs, "ConfigMap").find((x) => x.metadata.name === from.configMapRef.name);
    expect(cm, `envFrom ConfigMap ${from.configMapRef.name}`).toBeTruthy();
    Object.assign(env, cm.data);
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const secret = of(objs, "Secret").find((s) => s.metadata.name === ref.name);
      expect(
        secret?.stringData?.[ref.key] ?? secret?.data?.[ref.key],
        `secret ${ref.name}/${ref.key}`,
      ).toBeDefined();
      env[e.name] = secretValue(ref.key);
    }
  }
  return env;
}

describe.each(OVERLAYS)("kustomize overlay %s", (overlay) => {
  it("renders objects that validate against the Kubernetes schemas (no unknown fields)", async () => {
    const objs = rendered[overlay];
    expect(objs.length).toBeGreaterThan(8);
    const problems: string[] = [];
    for (const o of objs)
      for (const p of await validateObject(o)) problems.push(`${o.kind}/${o.metadata?.name}: ${p}`);
    expect(problems).toEqual([]);
    for (const o of objs)
      if (o.kind !== "Namespace" && o.metadata.namespace) expect(o.metadata.namespace).toBe("identrail");
  });

  it("namespace enforces Pod Security restricted and every pod meets it", () => {
    const objs = rendered[overlay];
    const ns = of(objs, "Namespace")[0];
    expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const deployments = of(objs, "Deployment");
    expect(deployments.length).toBeGreaterThan(0);
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      for (const c of pod.containers) {
        expect(c.securityContext, `${d.metadata.name}`).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
        for (const kind of ["requests", "limits"]) {
          expect(c.resources[kind].cpu, `${d.metadata.name} ${kind}.cpu`).toBeDefined();
          expect(c.resources[kind].memory, `${d.metadata.name} ${kind}.memory`).toBeDefined();
        }
        expect(c.livenessProbe.httpGet).toMatchObject({ path: "/livez", port: "http" });
        expect(c.readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: "http" });
        expect(c.ports.map((p: any) => p.name)).toContain("http");
        expect(c.image).toMatch(/^identrail\/identrail:/);
        // Writable paths are volumes: /tmp (tsx cache) and DATA_DIR.
        const mounts = c.volumeMounts.map((m: any) => m.mountPath);
        expect(mounts).toContain("/tmp");
        expect(mounts).toContain(envOf(c, "DATA_DIR").value);
      }
    }
  });

  it("each Deployment's target, config and tokens make a valid Identrail configuration", () => {
    const objs = rendered[overlay];
    for (const d of of(objs, "Deployment")) {
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      const target = envOf(c, "IDENTRAIL_TARGET").value;
      // argv wins over the env var in the CLI, so both must agree.
      expect(c.args).toEqual([target]);
      const dir = tempDir("identrail-deploy-config-");
      try {
        const file = join(dir, "identrail.yaml");
        writeFileSync(file, configFor(objs, pod, c));
        const env = containerEnv(objs, c, (key) =>
          key === "IDENTRAIL_TOKENS" ? `collector:ingest:${GOOD_TOKEN}` : GOOD_TOKEN,
        );
        const config = loadConfig({ ...env, IDENTRAIL_CONFIG: file });
        expect(config.target).toBe(target);
        if (overlay === "distributed") {
          expect(config.kafka.brokers.length, `${d.metadata.name} has Kafka`).toBeGreaterThan(0);
          if (target !== "collector") expect(config.clickhouse.url).toMatch(/^https?:\/\//);
          if (target === "detector") expect(d.spec.replicas).toBeLessThanOrEqual(config.kafka.partitions);
        }
        expect(config.collector.inventory.enabled, d.metadata.name).toBe(
          pod.serviceAccountName === "identrail-inventory",
        );
        // The shipped placeholder secret must not boot: tokens need 16+ characters.
        const placeholder = containerEnv(objs, c, (key) => {
          const s = of(objs, "Secret").find((x) => x.metadata.name === "identrail-tokens");
          return s.stringData[key];
        });
        expect(() => loadConfig({ ...placeholder, IDENTRAIL_CONFIG: file })).toThrow(/invalid configuration/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it("inventory RBAC is get/list/watch on serviceaccounts, pods and jobs only", () => {
    const objs = rendered[overlay];
    const role = of(objs, "ClusterRole").find((r) => r.metadata.name === "identrail-inventory");
    const granted = role.rules.flatMap((r: any) =>
      r.apiGroups.flatMap((g: string) => r.resources.map((res: string) => `${g}/${res}`)),
    );
    expect(granted.sort()).toEqual(["/pods", "/serviceaccounts", "batch/jobs"]);
    for (const r of role.rules) expect(r.verbs.sort()).toEqual(["get", "list", "watch"]);
    const binding = of(objs, "ClusterRoleBinding").find((b) => b.roleRef.name === "identrail-inventory");
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "identrail-inventory", namespace: "identrail" },
    ]);
    const sas = Object.fromEntries(of(objs, "ServiceAccount").map((s) => [s.metadata.name, s]));
    expect(sas.identrail.automountServiceAccountToken).toBe(false);
    // Only the pod running the inventory watcher gets the identity with API access.
    const watchers = of(objs, "Deployment").filter(
      (d) => d.spec.template.spec.serviceAccountName === "identrail-inventory",
    );
    expect(watchers).toHaveLength(1);
    expect(watchers[0].spec.replicas).toBe(1);
    for (const d of of(objs, "Deployment")) expect(sas[d.spec.template.spec.serviceAccountName]).toBeTruthy();
  });

  it("Services reach their pods and NetworkPolicies admit webhook and API traffic only on 8080", () => {
    const objs = rendered[overlay];
    const policies = of(objs, "NetworkPolicy");
    const deny = policies.find((p) => p.metadata.name === "default-deny");
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    const selects = (sel: any, labels: Record<string, string>) =>
      Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
      (sel.matchExpressions ?? []).every((e: any) => e.operator === "In" && e.values.includes(labels[e.key]));
    const services = of(objs, "Service");
    expect(services.length).toBeGreaterThan(0);
    for (const s of services) {
      const targets = of(objs, "Deployment").filter((d) =>
        selects({ matchLabels: s.spec.selector }, d.spec.template.metadata.labels),
      );
      expect(targets.length, `Service ${s.metadata.name} selects a Deployment`).toBe(1);
      const labels = targets[0].spec.template.metadata.labels;
      const admitted = policies.some(
        (p) =>
          p.spec.policyTypes.includes("Ingress") &&
          selects(p.spec.podSelector, labels) &&
          (p.spec.ingress ?? []).some((r: any) => !r.from && r.ports.some((pt: any) => pt.port === 8080)),
      );
      expect(admitted, `ingress to ${s.metadata.name}`).toBe(true);
      for (const port of s.spec.ports) expect(port.targetPort).toBe("http");
    }
    // The detector and the inventory watcher accept no ingress except scraping.
    for (const d of of(objs, "Deployment").filter((x) =>
      ["detector", "inventory"].includes(x.spec.template.metadata.labels["app.kubernetes.io/component"]),
    )) {
      const open = policies.filter(
        (p) =>
          selects(p.spec.podSelector, d.spec.template.metadata.labels) &&
          (p.spec.ingress ?? []).some((r: any) => !r.from),
      );
      expect(open.map((p) => p.metadata.name)).toEqual([]);
    }
  });
});

describe("overlay specifics", () => {
  it("single-binary: one pod, all roles, data on a PersistentVolumeClaim, replaced not rolled", () => {
    const objs = rendered["single-binary"];
    const [d, ...rest] = of(objs, "Deployment");
    expect(rest).toHaveLength(0);
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy.type).toBe("Recreate");
    const pod = d.spec.template.spec;
    expect(pod.containers[0].args).toEqual(["all"]);
    const dataMount = pod.containers[0].volumeMounts.find((m: any) => m.mountPath === "/var/lib/identrail");
    const claim = pod.volumes.find((v: any) => v.name === dataMount.name).persistentVolumeClaim.claimName;
    expect(of(objs, "PersistentVolumeClaim").map((p) => p.metadata.name)).toContain(claim);
  });

  it("distributed: collector, detector, api and inventory Deployments; webhook and API Services", () => {
    const objs = rendered.distributed;
    const targets = Object.fromEntries(
      of(objs, "Deployment").map((d) => [d.metadata.name, d.spec.template.spec.containers[0].args[0]]),
    );
    expect(targets).toEqual({
      "identrail-api": "api",
      "identrail-collector": "collector",
      "identrail-detector": "detector",
      "identrail-inventory": "collector",
    });
    expect(
      of(objs, "Service")
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual(["identrail-api", "identrail-collector"]);
    expect(of(objs, "PodDisruptionBudget")).toHaveLength(2);
  });
});

/** First-match evaluation of an audit policy, as the kube-apiserver does. */
interface AuditRequest {
  user: string;
  groups?: string[];
  verb: string;
  group?: string;
  resource?: string;
  namespace?: string;
  path?: string;
}
function auditLevel(policy: any, r: AuditRequest): string {
  const glob = (pattern: string, v: string) =>
    pattern.endsWith("*") ? v.startsWith(pattern.slice(0, -1)) : pattern === v;
  for (const rule of policy.rules) {
    if (rule.users && !rule.users.includes(r.user)) continue;
    if (rule.userGroups && !rule.userGroups.some((g: string) => r.groups?.includes(g))) continue;
    if (rule.verbs && !rule.verbs.includes(r.verb)) continue;
    if (rule.namespaces && !rule.namespaces.includes(r.namespace ?? "")) continue;
    if (rule.nonResourceURLs) {
      if (!r.path || !rule.nonResourceURLs.some((p: string) => glob(p, r.path!))) continue;
    } else if (r.path && !r.resource) {
      if (rule.resources) continue;
    }
    if (rule.resources) {
      if (!r.resource) continue;
      const hit = rule.resources.some(
        (g: any) => (g.group ?? "") === (r.group ?? "") && (!g.resources || g.resources.includes(r.resource)),
      );
      if (!hit) continue;
    }
    return rule.level;
  }
  return "None";
}

describe("kube-apiserver audit policy and webhook", () => {
  const policy = parseYaml(readFileSync(join(DEPLOY, "kubernetes/audit/audit-policy.yaml"), "utf8"));

  it("is an audit.k8s.io/v1 Policy with known fields and levels", () => {
    expect(policy).toMatchObject({ apiVersion: "audit.k8s.io/v1", kind: "Policy" });
    expect(policy.omitStages).toContain("RequestReceived");
    const ruleKeys = new Set([
      "level",
      "users",
      "userGroups",
      "verbs",
      "resources",
      "namespaces",
      "nonResourceURLs",
      "omitStages",
    ]);
    for (const rule of policy.rules) {
      for (const k of Object.keys(rule)) expect(ruleKeys, `rule key ${k}`).toContain(k);
      expect(["None", "Metadata", "Request", "RequestResponse"]).toContain(rule.level);
      for (const g of rule.resources ?? [])
        for (const k of Object.keys(g)) expect(["group", "resources", "resourceNames"]).toContain(k);
    }
    expect(policy.rules.at(-1)).toEqual({ level: "Metadata" });
  });

  it("assigns the intended levels", () => {
    const cases: [AuditRequest, string][] = [
      [
        {
          user: "system:serviceaccount:ml-training:fine-tuning-job",
          verb: "get",
          resource: "secrets",
          namespace: "ml-training",
        },
        "Metadata",
      ],
      [
        { user: "alice@example.com", verb: "list", resource: "secrets", namespace: "ml-training" },
        "Metadata",
      ],
      [{ user: "alice@example.com", verb: "update", resource: "configmaps" }, "Metadata"],
      [
        {
          user: "system:kube-controller-manager",
          verb: "get",
          resource: "secrets",
          namespace: "kube-system",
        },
        "Metadata",
      ],
      [
        {
          user: "system:serviceaccount:ci:runner",
          verb: "create",
          group: "authentication.k8s.io",
          resource: "tokenreviews",
        },
        "Metadata",
      ],
      [
        { user: "system:serviceaccount:ci:runner", verb: "create", resource: "serviceaccounts/token" },
        "Metadata",
      ],
      [
        {
          user: "system:serviceaccount:ci:runner",
          verb: "create",
          resource: "pods",
          namespace: "ml-training",
        },
        "Request",
      ],
      [
        { user: "system:serviceaccount:ci:runner", verb: "create", group: "batch", resource: "jobs" },
        "Request",
      ],
      [
        { user: "system:serviceaccount:ci:runner", verb: "create", group: "batch", resource: "cronjobs" },
        "Request",
      ],
      [
        {
          user: "system:serviceaccount:kube-system:job-controller",
          verb: "update",
          group: "batch",
          resource: "jobs/status",
        },
        "Request",
      ],
      [
        {
          user: "mallory@example.com",
          verb: "create",
          group: "rbac.authorization.k8s.io",
          resource: "clusterrolebindings",
        },
        "RequestResponse",
      ],
      [
        { user: "mallory@example.com", verb: "patch", group: "rbac.authorization.k8s.io", resource: "roles" },
        "RequestResponse",
      ],
      [{ user: "mallory@example.com", verb: "create", resource: "pods/exec" }, "Metadata"],
      [{ user: "system:kube-proxy", verb: "watch", resource: "endpoints" }, "None"],
      [{ user: "system:node:node-1", groups: ["system:nodes"], verb: "get", resource: "nodes" }, "None"],
      [
        { user: "system:kube-scheduler", verb: "update", group: "coordination.k8s.io", resource: "leases" },
        "None",
      ],
      [{ user: "system:anonymous", verb: "get", path: "/healthz" }, "None"],
      [{ user: "alice@example.com", verb: "get", resource: "pods" }, "Metadata"],
    ];
    for (const [req, level] of cases) expect(auditLevel(policy, req), JSON.stringify(req)).toBe(level);
  });

  it("the webhook kubeconfig posts to /ingest/k8s-audit with a cluster name and a bearer token", () => {
    const kc = parseYaml(readFileSync(join(DEPLOY, "kubernetes/audit/webhook-kubeconfig.yaml"), "utf8"));
    expect(kc).toMatchObject({ apiVersion: "v1", kind: "Config" });
    const ctx = kc.contexts.find((c: any) => c.name === kc["current-context"]).context;
    const url = new URL(kc.clusters.find((c: any) => c.name === ctx.cluster).cluster.server);
    expect(url.protocol).toBe("https:");
    expect(url.pathname).toBe("/ingest/k8s-audit");
    expect(url.searchParams.get("cluster")).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    expect(kc.users.find((u: any) => u.name === ctx.user).user.token).toBeTypeOf("string");
  });
});

describe("container image", () => {
  it("builds from node:20-slim, installs production deps only and runs as a numeric non-root user", () => {
    const df = readFileSync(join(DEPLOY, "Dockerfile"), "utf8");
    const froms = [...df.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.every((f) => f === "node:20-slim")).toBe(true);
    expect(df).toMatch(/^RUN npm (ci|install) --omit=dev/m);
    const user = /^USER (\d+):(\d+)$/m.exec(df);
    expect(Number(user?.[1])).toBeGreaterThan(0);
    expect(df).toMatch(/^VOLUME \["\/var\/lib\/identrail"\]$/m);
    const entry = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(df)![1]);
    expect(existsSync(join(ROOT, entry[1]))).toBe(true);
    // Kubernetes runs the same uid as the image.
    for (const o of OVERLAYS)
      for (const d of of(rendered[o], "Deployment"))
        expect(d.spec.template.spec.securityContext.runAsUser).toBe(Number(user![1]));
  });
});

describe("compose stack", () => {
  const composeDir = join(DEPLOY, "compose");
  const compose = parseYaml(readFileSync(join(composeDir, "docker-compose.yaml"), "utf8"), { merge: true });

  it("has Kafka, ClickHouse, Prometheus, Grafana and the three Identrail roles", () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ["api", "clickhouse", "collector", "detector", "grafana", "kafka", "prometheus"].sort(),
    );
    for (const role of ["collector", "detector", "api"]) {
      const s = compose.services[role];
      expect(s.command).toEqual([role]);
      expect(s.read_only).toBe(true);
      expect(s.user).toBe("10001:10001");
      expect(s.environment.KAFKA_BROKERS).toBe("kafka:9092");
    }
    expect(compose.services.kafka.environment.KAFKA_PROCESS_ROLES).toBe("broker,controller");
    expect(compose.services.grafana.environment.GF_INSTALL_PLUGINS).toContain(
      "grafana-clickhouse-datasource",
    );
  });

  it("references only files that exist", () => {
    const hostPaths: string[] = [];
    for (const s of Object.values<any>(compose.services)) {
      if (s.build) {
        hostPaths.push(s.build.context, join(s.build.context, s.build.dockerfile));
      }
      for (const v of s.volumes ?? []) {
        const host = String(v).split(":")[0];
        if (host.startsWith(".") || host.startsWith("/")) hostPaths.push(host);
      }
    }
    expect(hostPaths.length).toBeGreaterThan(6);
    for (const p of hostPaths) expect(existsSync(resolve(composeDir, p)), p).toBe(true);
    // .env is the operator's copy of .env.example, kept out of git.
    expect(existsSync(join(composeDir, ".env.example"))).toBe(true);
    expect(readFileSync(join(composeDir, ".gitignore"), "utf8")).toMatch(/^\.env$/m);
  });

  it("the compose configuration is a valid Identrail configuration with the example env", () => {
    const env = Object.fromEntries(
      readFileSync(join(composeDir, ".env.example"), "utf8")
        .split("\n")
        .filter((l) => /^\w+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    const c = compose.services.detector;
    const config = loadConfig({
      ...env,
      ...c.environment,
      IDENTRAIL_CONFIG: join(composeDir, "identrail.yaml"),
      IDENTRAIL_TARGET: "detector",
    });
    expect(config.kafka.brokers).toEqual(["kafka:9092"]);
    expect(config.clickhouse.url).toBe("http://clickhouse:8123");
    expect(config.auth.tokens.length).toBe(2);
    // Grafana gets everything its provisioning file expands.
    const ds = readFileSync(join(ROOT, "dashboards/provisioning/datasources/identrail.yaml"), "utf8");
    const grafanaEnv = { ...env, ...compose.services.grafana.environment };
    for (const m of ds.matchAll(/\$\{(\w+)\}/g)) expect(grafanaEnv[m[1]], m[1]).toBeDefined();
  });
});

describe("deploy/sources", () => {
  const dir = join(DEPLOY, "sources");
  const cfnTags = ["!Sub", "!Ref", "!GetAtt"].map((tag) => ({ tag, resolve: (v: string) => v }));

  it("each source has a README and its YAML/JSON files parse", () => {
    const subdirs = readdirSync(dir).filter((d) => statSync(join(dir, d)).isDirectory());
    expect(subdirs.sort()).toEqual(["aws", "azure", "gcp", "minio", "vault"]);
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(dir);
    for (const s of subdirs) expect(existsSync(join(dir, s, "README.md")), s).toBe(true);
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      if (f.endsWith(".json")) expect(() => JSON.parse(text), f).not.toThrow();
      if (f.endsWith(".yaml")) {
        const doc = parseAllDocuments(text, { customTags: cfnTags as any });
        for (const d of doc) expect(d.errors, f).toEqual([]);
      }
    }
  });

  it("every ingest URL names a source the collector knows, with a cluster", async () => {
    const { SOURCES } = await import("@identrail/schema");
    const text = readdirSync(dir, { recursive: true })
      .map((f) => join(dir, String(f)))
      .filter((f) => statSync(f).isFile())
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const urls = [...text.matchAll(/\/ingest\/([a-z0-9-]+)\?cluster=/g)].map((m) => m[1]);
    expect(new Set(urls)).toEqual(new Set(["vault", "minio", "gcp-audit", "azure-keyvault", "k8s-audit"]));
    for (const u of urls) expect(SOURCES as readonly string[]).toContain(u);
    // The AWS forwarder builds its URL from the source it detects.
    expect(text).toMatch(/"s3-access" : "cloudtrail"/);
    const vaultTail = parseYaml(readFileSync(join(dir, "vault/collector-tail.yaml"), "utf8"));
    const cfg = loadConfig({ IDENTRAIL_CONFIG: join(dir, "vault/collector-tail.yaml") });
    expect(cfg.collector.tail).toEqual(vaultTail.collector.tail);
  });
});

describe("ClickHouse grant and retention files", () => {
  let store: StoreClient;
  let dataDir: string;
  let tables: string[];
  beforeAll(async () => {
    dataDir = tempDir("identrail-deploy-ch-");
    store = await createStoreClient({ dataDir });
    await migrate(store.ch);
    const rs = await store.ch.query({
      query: "SELECT name FROM system.tables WHERE database = currentDatabase()",
      format: "JSONEachRow",
    });
    tables = ((await rs.json()) as { name: string }[]).map((r) => r.name);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("the Grafana grant is read-only, names existing tables and covers every dashboard query", () => {
    const sql = readFileSync(join(DEPLOY, "clickhouse/grafana-readonly.sql"), "utf8");
    const statements = splitStatements(sql);
    const granted = new Map<string, string[] | "all">();
    for (const s of statements) {
      expect(s).toMatch(
        /^(CREATE SETTINGS PROFILE IF NOT EXISTS|CREATE ROLE IF NOT EXISTS|CREATE USER IF NOT EXISTS|GRANT)\b/,
      );
      if (/^CREATE SETTINGS PROFILE/.test(s)) expect(s).toMatch(/readonly = 1/);
      const g = /^GRANT SELECT(?:\(([^)]*)\))? ON identrail\.(\w+) TO identrail_grafana$/.exec(s);
      if (s.startsWith("GRANT") && !/^GRANT identrail_grafana TO grafana$/.test(s)) {
        expect(g, `only SELECT grants: ${s}`).toBeTruthy();
        granted.set(g![2], g![1] ? g![1].split(",").map((c) => c.trim()) : "all");
      }
    }
    for (const t of granted.keys()) expect(tables, `granted table ${t} exists`).toContain(t);
    // Every table the dashboards read is granted; column grants cover the columns used.
    for (const d of DASHBOARDS)
      for (const p of d.panels) {
        if (!p.sql) continue;
        for (const m of p.sql.matchAll(/\b(?:FROM|JOIN)\s+([a-z_]+)\b(?!\s*\()/g)) {
          const t = m[1];
          expect(granted.has(t), `${d.title} / ${p.title} reads ${t}`).toBe(true);
          const cols = granted.get(t);
          if (cols !== "all")
            expect(p.sql, `${p.title} reads only granted columns of ${t}`).not.toMatch(/\bpayload\b/);
        }
      }
  });

  it("retention TTLs apply to the real schema", async () => {
    const sql = readFileSync(join(DEPLOY, "clickhouse/retention.sql"), "utf8");
    for (const s of splitStatements(sql)) await store.ch.command({ query: s });
    const rs = await store.ch.query({ query: "SHOW CREATE TABLE events", format: "TabSeparatedRaw" });
    expect(await rs.text()).toMatch(/TTL toDateTime\(time\) \+ toIntervalDay\(180\)/);
    // Idempotent: applying again works.
    for (const s of splitStatements(sql)) await store.ch.command({ query: s });
  });
});

describe("unknown-field check", () => {
  it("catches a misspelled security field that the OpenAPI schema lets through", () => {
    const pod = {
      containers: [{ name: "x", image: "y", securityContext: { readOnlyRootFileSystem: true } }],
    };
    expect(unknownFields(pod, "V1PodSpec")).toEqual([
      ".containers[0].securityContext.readOnlyRootFileSystem",
    ]);
  });
});
