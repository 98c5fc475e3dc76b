import { availableParallelism } from "node:os";
import { SEVERITIES, SOURCES } from "@identrail/schema";
import { z } from "zod";
import { Duration } from "./duration";

function defaultPrepareThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

export const SCOPES = ["ingest", "read", "respond", "admin"] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

export const TokenConfig = z
  .object({
    name: z.string().min(1),
    /** sha256 hex of the token; plain `token` is accepted for convenience and hashed at boot. */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    token: z.string().min(16).optional(),
    scopes: z.array(Scope).min(1),
    expires_at: z.string().datetime({ offset: true }).optional(),
  })
  .refine((t) => t.sha256 || t.token, { message: "a token needs sha256 or token" });

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "HH:MM");

export const ResourceRule = z.object({
  match: z.string().min(1),
  kind: z.enum(["dataset", "checkpoint", "model", "registry", "secret"]),
  environment: z.enum(["dev", "staging", "prod"]).optional(),
  consumers: z.array(z.string()).optional(),
  producers: z.array(z.string()).optional(),
  approved_destinations: z.array(z.string()).optional(),
});

export const Suppression = z.object({
  rule: z.string().optional(),
  identity: z.string().optional(),
  namespace: z.string().optional(),
  resource: z.string().optional(),
  reason: z.string().default(""),
  until: z.string().datetime({ offset: true }).optional(),
});

const ReceiverBase = {
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  /** Permit private (RFC 1918/4193) and link-local addresses; metadata services stay refused. */
  allow_private: z.boolean().default(false),
  /** Permit loopback (127.0.0.0/8, ::1); for local relays and tests. */
  allow_loopback: z.boolean().default(false),
  timeout: Duration.default(10_000),
};
const HttpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), "must be an http(s) URL");

export const Receiver = z.discriminatedUnion("type", [
  z.object({
    ...ReceiverBase,
    type: z.literal("pagerduty"),
    /** Events API v2 integration key. */
    routing_key: z.string().min(1),
    url: HttpUrl.default("https://events.pagerduty.com/v2/enqueue"),
    /** PagerDuty accepts ~120 events/min per integration key; we stay under it. */
    max_events_per_minute: z.number().int().positive().default(100),
  }),
  z.object({ ...ReceiverBase, type: z.literal("alertmanager"), url: HttpUrl }),
  z.object({ ...ReceiverBase, type: z.literal("slack"), url: HttpUrl }),
  z.object({ ...ReceiverBase, type: z.literal("webhook"), url: HttpUrl, secret: z.string().min(16) }),
]);
export type Receiver = z.infer<typeof Receiver>;

export const NotifyRoute = z.object({
  receiver: z.string().min(1),
  match: z
    .object({
      min_severity: z.enum(SEVERITIES).default("info"),
      rules: z.array(z.string()).optional(),
      namespaces: z.array(z.string()).optional(),
      environments: z.array(z.string()).optional(),
      identity_types: z.array(z.string()).optional(),
    })
    .default({ min_severity: "info" }),
  /** Changes within this window are sent together (one request per receiver, latest state per alert). */
  group_wait: Duration.default(30_000),
  /** Active alerts are re-sent this often (Alertmanager needs it to keep them firing). */
  repeat_interval: Duration.default(4 * 3_600_000),
});
export type NotifyRoute = z.infer<typeof NotifyRoute>;

export const ConfigSchema = z.object({
  target: z.enum(["all", "collector", "detector", "api"]).default("all"),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  host: z.string().default("0.0.0.0"),
  data_dir: z.string().default("./data"),
  default_cluster: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/)
    .default("default"),
  kafka: z
    .object({
      brokers: z.array(z.string().min(1)).default([]),
      client_id: z.string().default("identrail"),
      /** Partitions for the normalized-events topic when the cluster auto-creates it. */
      partitions: z.number().int().positive().default(12),
      /**
       * Longest a fetch waits for new data. A real broker answers as soon as data arrives, so this only
       * paces idle polling; brokers that hold fetches (librdkafka's mock) add it to every hop's latency.
       */
      fetch_max_wait: Duration.default(20),
      ssl: z.boolean().default(false),
      sasl: z
        .object({
          mechanism: z.enum(["plain", "scram-sha-256", "scram-sha-512"]),
          username: z.string(),
          password: z.string(),
        })
        .optional(),
    })
    .default({ brokers: [], client_id: "identrail", partitions: 12, ssl: false, fetch_max_wait: 20 }),
  clickhouse: z
    .object({
      url: z.string().url().optional(),
      database: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
        .default("identrail"),
      username: z.string().optional(),
      password: z.string().optional(),
      /** When set, migrations create Replicated* tables ON CLUSTER this name. */
      cluster: z.string().optional(),
      max_execution_time: z.number().int().positive().default(30),
    })
    .default({ database: "identrail", max_execution_time: 30 }),
  auth: z
    .object({
      tokens: z.array(TokenConfig).default([]),
      oidc: z
        .object({
          issuer: z.string().url(),
          audience: z.string(),
          jwks_uri: z.string().url().optional(),
          scope_claim: z.string().default("scope"),
        })
        .optional(),
    })
    .default({ tokens: [] }),
  ingest: z
    .object({
      max_body_bytes: z
        .number()
        .int()
        .positive()
        .default(10 * 1024 * 1024),
      max_decompressed_bytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024),
      /**
       * Longest an ingest request waits for the bus to acknowledge. A hung broker otherwise holds the
       * sender for kafkajs' retries (~40 s); past this the answer is 503 and the sender retries (a write
       * that still lands later is stored once: the detector drops repeated event ids).
       */
      produce_timeout: Duration.default(5000),
      /**
       * Threads that decompress, parse, validate and envelope request bodies, beside the thread serving
       * HTTP (services/collector/src/prepare-pool.ts). Default: one per core but one, 1 to 4. 0 prepares
       * bodies on the HTTP thread.
       */
      prepare_threads: z.number().int().min(0).max(64).default(defaultPrepareThreads),
      /**
       * Request bodies waiting for or on the prepare threads, at most (bytes as received). Past it the
       * collector answers 503 `collector_busy` instead of holding more in memory.
       */
      max_queued_bytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024 * 1024),
    })
    // Parsed through the fields' own defaults when absent (zod 4 `prefault`), so they are stated once.
    .prefault({}),
  detector: z
    .object({
      learning_period: Duration.default(7 * 86_400_000),
      allowed_lateness: Duration.default(3_600_000),
      dormant_after: Duration.default(30 * 86_400_000),
      batch_size: z.number().int().positive().default(2000),
    })
    .default({
      learning_period: 7 * 86_400_000,
      allowed_lateness: 3_600_000,
      dormant_after: 30 * 86_400_000,
      batch_size: 2000,
    }),
  resources: z.array(ResourceRule).default([]),
  working_hours: z
    .object({
      timezone: z.string().default("UTC"),
      days: z.array(z.enum(WEEKDAYS)).default(["mon", "tue", "wed", "thu", "fri"]),
      start: HHMM.default("07:00"),
      end: HHMM.default("20:00"),
    })
    .default({ timezone: "UTC", days: ["mon", "tue", "wed", "thu", "fri"], start: "07:00", end: "20:00" }),
  gpu: z
    .object({
      allowed: z
        .array(
          z.object({
            namespaces: z.array(z.string()).optional(),
            identities: z.array(z.string()).optional(),
            images: z.array(z.string()).optional(),
          }),
        )
        .default([]),
      require_deadline: z.boolean().default(true),
    })
    .default({ allowed: [], require_deadline: true }),
  identities: z
    .object({
      /** Explicit links: every alias in a group is the same identity. */
      links: z.array(z.array(z.string()).min(2)).default([]),
    })
    .default({ links: [] }),
  vault: z
    .object({
      /** Which Kubernetes cluster each Vault kubernetes auth mount authenticates, e.g. {"auth/kubernetes/": "prod"}. */
      kubernetes_auth_clusters: z.record(z.string(), z.string()).default({}),
    })
    .default({ kubernetes_auth_clusters: {} }),
  suppressions: z.array(Suppression).default([]),
  rules: z
    .record(
      z.string(),
      z.object({ enabled: z.boolean().optional(), severity: z.enum(SEVERITIES).optional() }).passthrough(),
    )
    .default({}),
  /** API limits (issue 5): page sizes, time ranges and per-token request rates. */
  api: z
    .object({
      max_page_size: z.number().int().min(1).max(10_000).default(1000),
      max_range: Duration.default(366 * 86_400_000),
      /** Requests per token per minute (@fastify/rate-limit, keyed by the token's sha256). */
      rate_limit_per_minute: z.number().int().positive().default(600),
      /** Body limit for /api/v1 write routes; ingest keeps its own limit. */
      max_body_bytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024),
      /**
       * Run the alert notifier in this process. With several API replicas, keep it on exactly one
       * (IDENTRAIL_NOTIFIER=off on the others): Slack and webhooks have no dedup key of their own.
       */
      notifier: z.boolean().default(true),
    })
    .default({
      max_page_size: 1000,
      max_range: 366 * 86_400_000,
      rate_limit_per_minute: 600,
      max_body_bytes: 64 * 1024,
      notifier: true,
    }),
  /** Collector inputs besides HTTP push (issue 3): file tailers and the Kubernetes inventory watcher. */
  collector: z
    .object({
      tail: z
        .array(
          z.object({
            path: z.string().min(1),
            source: z.enum(SOURCES),
            cluster: z
              .string()
              .regex(/^[A-Za-z0-9._-]{1,128}$/)
              .optional(),
          }),
        )
        .default([]),
      inventory: z
        .object({
          enabled: z.boolean().default(false),
          /** Path to a kubeconfig; without it the in-cluster service account, then the default kubeconfig. */
          kubeconfig: z.string().optional(),
          cluster: z
            .string()
            .regex(/^[A-Za-z0-9._-]{1,128}$/)
            .optional(),
          /** How often cached objects are re-checked and republished if their last publish was lost. */
          resync: Duration.default(600_000),
        })
        .default({ enabled: false, resync: 600_000 }),
    })
    .default({ tail: [], inventory: { enabled: false, resync: 600_000 } }),
  /** Alert routing (packages/notify): each route sends matching alerts to one receiver. */
  routes: z.array(NotifyRoute).default([]),
  receivers: z.array(Receiver).default([]),
});
export type Config = z.infer<typeof ConfigSchema>;
export type ResourceRule = z.infer<typeof ResourceRule>;
