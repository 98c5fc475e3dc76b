/**
 * Wires one process for a target (Loki-style): `all` runs collector, detector and API together on
 * embedded defaults; `collector`, `detector` and `api` run one role against Kafka and ClickHouse.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tokenStoreFor } from "@identrail/api";
import { type Bus, createBus, KafkaBus, prefixedBus } from "@identrail/bus";
import { startInventory, startTailers } from "@identrail/collector";
import { type Config, ConfigError, sha256Hex } from "@identrail/config";
import { logger, startDefaultMetrics } from "@identrail/core";
import { type DetectorHandle, startDetector } from "@identrail/detector";
import { createAuthenticator, generateToken } from "@identrail/http";
import { Notifier, validateNotifyConfig } from "@identrail/notify";
import { routeRecord } from "@identrail/sources";
import { createStoreClient, migrate, type StoreClient } from "@identrail/store";
import type { FastifyInstance } from "fastify";
import { buildApp, type Role } from "./app";

export const TARGETS: Record<Config["target"], Role[]> = {
  all: ["collector", "detector", "api"],
  collector: ["collector"],
  detector: ["detector"],
  api: ["api"],
};

export interface Runtime {
  app: FastifyInstance;
  config: Config;
  bus?: Bus;
  store?: StoreClient;
  detector?: DetectorHandle;
  /** Token printed for the operator when none was configured. */
  generatedToken?: string;
  stop(): Promise<void>;
}

/** When no token is configured, make one admin token, keep it under the data dir (0600) and reuse it. */
export function ensureBootstrapToken(config: Config): { config: Config; token?: string } {
  if (config.auth.tokens.length) return { config };
  mkdirSync(config.data_dir, { recursive: true });
  const file = join(config.data_dir, "admin.token");
  let token: string;
  if (existsSync(file)) token = readFileSync(file, "utf8").trim();
  else {
    token = generateToken();
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return {
    config: {
      ...config,
      auth: {
        ...config.auth,
        tokens: [
          {
            name: "bootstrap-admin",
            sha256: sha256Hex(token),
            scopes: ["ingest", "read", "respond", "admin"],
          },
        ],
      },
    },
    token,
  };
}

export async function startRuntime(
  input: Config,
  opts: { topicPrefix?: string; logger?: boolean; bus?: Bus } = {},
): Promise<Runtime> {
  const roles = new Set(TARGETS[input.target]);
  const kafka = input.kafka.brokers.length > 0;
  if (input.target !== "all" && input.target !== "api" && !kafka && !opts.bus)
    throw new ConfigError(
      `target ${input.target} runs apart from the others and needs KAFKA_BROKERS (kafka.brokers)`,
    );
  const { config, token } =
    roles.has("collector") || roles.has("api") ? ensureBootstrapToken(input) : { config: input };
  startDefaultMetrics();
  // Refuse receiver URLs that fail the SSRF policy before anything is opened.
  if (roles.has("api")) await validateNotifyConfig(config);

  let store: StoreClient | undefined;
  if (roles.has("detector") || roles.has("api")) {
    store = await createStoreClient({
      url: config.clickhouse.url,
      database: config.clickhouse.database,
      username: config.clickhouse.username,
      password: config.clickhouse.password,
      dataDir: config.data_dir,
      maxExecutionTime: config.clickhouse.max_execution_time,
    });
    await migrate(store.ch, { cluster: config.clickhouse.cluster });
  }
  let bus: Bus | undefined = opts.bus;
  if (!bus && (roles.has("collector") || roles.has("detector"))) {
    bus = createBus({
      dataDir: config.data_dir,
      kafka: kafka
        ? {
            brokers: config.kafka.brokers,
            clientId: config.kafka.client_id,
            ssl: config.kafka.ssl,
            sasl: config.kafka.sasl,
            partitions: config.kafka.partitions,
            fetchMaxWaitMs: config.kafka.fetch_max_wait,
          }
        : undefined,
    });
  }
  const scopedBus = bus && opts.topicPrefix ? prefixedBus(bus, opts.topicPrefix) : bus;
  if (bus instanceof KafkaBus && roles.has("collector")) {
    // Fail early with a clear message rather than at the first request.
    if (!(await bus.healthy()))
      logger.warn(
        { brokers: config.kafka.brokers },
        "Kafka not reachable yet; ingest answers 503 until it is",
      );
  }
  let detector: DetectorHandle | undefined;
  if (roles.has("detector")) detector = await startDetector({ bus: scopedBus!, ch: store!.ch, config });

  const app = await buildApp({
    config,
    roles,
    authenticate: createAuthenticator(config.auth, { extra: store ? tokenStoreFor(store.ch) : undefined }),
    bus: scopedBus,
    ch: store?.ch,
    logger: opts.logger,
  });
  // File tailers and the inventory watcher (collector.tail / collector.inventory) publish like HTTP ingest.
  const tailers =
    roles.has("collector") && scopedBus
      ? startTailers(config, { bus: scopedBus, config, route: routeRecord })
      : undefined;
  let inventory: Awaited<ReturnType<typeof startInventory>> = null;
  try {
    inventory =
      roles.has("collector") && scopedBus ? await startInventory(config, { bus: scopedBus, config }) : null;
  } catch (e) {
    await tailers?.stop();
    throw e;
  }
  // Alert routing runs where the API runs; it only reads alerts/alert_state and its own outbox.
  let notifier: Notifier | undefined;
  if (roles.has("api") && config.routes.length && config.api.notifier) {
    notifier = new Notifier({ ch: store!.ch, config });
    await notifier.start();
  }
  return {
    app,
    config,
    bus: scopedBus,
    store,
    detector,
    generatedToken: token,
    async stop() {
      await app.close();
      await tailers?.stop();
      await inventory?.stop();
      await notifier?.stop();
      await detector?.stop();
      await bus?.close();
      await store?.close();
    },
  };
}
