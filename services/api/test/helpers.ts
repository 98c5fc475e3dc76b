import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { tokenStoreFor } from "@identrail/api";
import { buildApp } from "@identrail/cli";
import { type Config, parseConfig } from "@identrail/config";
import { createAuthenticator } from "@identrail/http";
import { createStoreClient, migrate, type StoreClient } from "@identrail/store";

export const TOKENS = {
  ingest: "ingest-token-0123456789abcdef",
  read: "read-token-0123456789abcdef",
  respond: "respond-token-0123456789abcdef",
  admin: "admin-token-0123456789abcdef",
  all: "all-scopes-token-0123456789abcdef",
  expired: "expired-token-0123456789abcdef",
} as const;

export const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

export function apiConfig(overrides: Record<string, unknown> = {}): Config {
  return parseConfig({
    data_dir: mkdtempSync(join(tmpdir(), "identrail-api-")),
    target: "api",
    auth: {
      tokens: [
        { name: "ingest", token: TOKENS.ingest, scopes: ["ingest"] },
        { name: "reader", token: TOKENS.read, scopes: ["read"] },
        { name: "responder", token: TOKENS.respond, scopes: ["respond"] },
        { name: "admin", token: TOKENS.admin, scopes: ["admin"] },
        { name: "analyst", token: TOKENS.all, scopes: ["read", "respond", "admin"] },
        {
          name: "old",
          token: TOKENS.expired,
          scopes: ["read", "respond", "admin"],
          expires_at: "2020-01-01T00:00:00Z",
        },
      ],
    },
    ...overrides,
  });
}

/** One chDB store per test file (one process opens one chDB path), migrated. */
export async function openStore(config: Config): Promise<StoreClient> {
  const store = await createStoreClient({ dataDir: config.data_dir });
  await migrate(store.ch);
  return store;
}

export async function apiApp(
  config: Config,
  ch: ClickHouseClient,
  extra: Partial<Parameters<typeof buildApp>[0]> = {},
) {
  return buildApp({
    config,
    roles: new Set(["api"]),
    authenticate: createAuthenticator(config.auth, { extra: tokenStoreFor(ch) }),
    ch,
    ...extra,
  });
}

const chTime = (iso: string) => iso.replace("T", " ").replace("Z", "");

export interface SeedAlert {
  id: string;
  rule?: string;
  severity?: string;
  identity?: string;
  title?: string;
  resource?: string;
  last_seen: string;
  count?: number;
  labels?: Record<string, string>;
  version?: number;
}

export async function seedAlerts(ch: ClickHouseClient, list: SeedAlert[]) {
  await ch.insert({
    table: "alerts",
    format: "JSONEachRow",
    values: list.map((a) => ({
      id: a.id,
      rule: a.rule ?? "secret-read-unusual",
      severity: a.severity ?? "high",
      identity_id: a.identity ?? "k8s-sa:prod:ml:trainer",
      title: a.title ?? `Unusual secret read ${a.id}`,
      description: "An identity read a secret it never read before.",
      resource: a.resource ?? "vault://secret/data/ml/db",
      group_key: a.id,
      first_seen: chTime(a.last_seen),
      last_seen: chTime(a.last_seen),
      count: a.count ?? 1,
      labels: { namespace: "ml", environment: "prod", identity_type: "service_account", ...(a.labels ?? {}) },
      mitre: ["T1552"],
      created_at: chTime(a.last_seen),
      version: a.version ?? 1,
    })),
  });
}

export async function seedEvents(
  ch: ClickHouseClient,
  list: {
    id: string;
    time: string;
    identity?: string;
    source?: string;
    resource?: string;
    principal?: string;
  }[],
) {
  await ch.insert({
    table: "events",
    format: "JSONEachRow",
    values: list.map((e) => ({
      id: e.id,
      time: chTime(e.time),
      received_at: chTime(e.time),
      source: e.source ?? "k8s-audit",
      cluster: "prod",
      identity_id: e.identity ?? "k8s-sa:prod:ml:trainer",
      principal: e.principal ?? "system:serviceaccount:ml:trainer",
      principal_type: "service_account",
      credential_id: "",
      impersonated: "",
      groups: [],
      operation: "get",
      verb: "read",
      resource_uri: e.resource ?? "k8s://prod/ml/secrets/db",
      resource_type: "secret",
      namespace: "ml",
      src_ip: "192.0.2.10",
      user_agent: "kubectl/v1.31",
      outcome: "success",
      status_code: 200,
      reason: "",
      bytes_in: 0,
      bytes_out: 0,
      raw_ref: "",
      attrs: {},
    })),
  });
}

export async function seedIdentities(
  ch: ClickHouseClient,
  list: {
    id: string;
    type?: string;
    owner?: string;
    environment?: string;
    expires_at?: string | null;
    first_seen: string;
    last_seen: string;
    aliases?: string[];
  }[],
) {
  await ch.insert({
    table: "identities",
    format: "JSONEachRow",
    values: list.map((i) => ({
      id: i.id,
      type: i.type ?? "service_account",
      display_name: i.id.split(":").pop(),
      cluster: "prod",
      namespace: "ml",
      environment: i.environment ?? "prod",
      owner: i.owner ?? "",
      purpose: "training",
      expires_at: i.expires_at ? chTime(i.expires_at) : null,
      attrs: {},
      updated_at: chTime(i.last_seen),
    })),
  });
  await ch.insert({
    table: "identity_seen",
    format: "JSONEachRow",
    values: list.map((i) => ({ id: i.id, first_seen: chTime(i.first_seen), last_seen: chTime(i.last_seen) })),
  });
  await ch.insert({
    table: "identity_aliases",
    format: "JSONEachRow",
    values: list.flatMap((i) =>
      [i.id, ...(i.aliases ?? [])].map((alias) => ({
        alias,
        identity_id: i.id,
        kind: alias === i.id ? "canonical" : alias.split(":")[0],
        origin: "test",
        first_seen: chTime(i.first_seen),
        last_seen: chTime(i.last_seen),
      })),
    ),
  });
}
