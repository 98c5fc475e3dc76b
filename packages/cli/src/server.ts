import { ConfigError, loadConfig } from "@identrail/config";
import { logger } from "@identrail/core";
import { startRuntime } from "./runtime";

const USAGE = `usage: identrail [all|collector|detector|api]   (or -target=<name>)

  all        collector, detector and API in one process (embedded chDB + local bus unless
             KAFKA_BROKERS / CLICKHOUSE_URL are set)
  collector  HTTP ingest endpoints -> Kafka
  detector   Kafka -> normalize, resolve identities, detect -> ClickHouse
  api        alerting API over ClickHouse

Configuration: IDENTRAIL_CONFIG (YAML) and env vars; see README.md.`;

export function parseTarget(argv: string[]): string | undefined {
  for (const a of argv) {
    if (a === "-h" || a === "--help") return "help";
    const m = /^--?target=(.+)$/.exec(a);
    if (m) return m[1];
    if (!a.startsWith("-")) return a;
  }
  return undefined;
}

export async function main(argv = process.argv.slice(2)) {
  const target = parseTarget(argv);
  if (target === "help") {
    console.log(USAGE);
    return;
  }
  let rt: Awaited<ReturnType<typeof startRuntime>>;
  try {
    const config = loadConfig(process.env, target ? { target } : {});
    rt = await startRuntime(config, { logger: true });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`identrail: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const { config } = rt;
  const address = await rt.app.listen({ port: config.port, host: config.host });
  const lines = [
    `identrail ${config.target} listening on ${address}`,
    `  bus:        ${rt.bus ? (rt.bus.kind === "kafka" ? `kafka ${config.kafka.brokers.join(",")}` : `local (${config.data_dir}/bus)`) : "-"}`,
    `  clickhouse: ${rt.store ? (rt.store.embedded ? `embedded chDB (${config.data_dir}/clickhouse)` : config.clickhouse.url) : "-"}`,
    `  API docs:   ${address}/docs   OpenAPI: ${address}/openapi.json`,
  ];
  if (rt.generatedToken)
    lines.push(
      `  auth:       no token configured; admin token (saved in ${config.data_dir}/admin.token):`,
      `              ${rt.generatedToken}`,
      `              use it as: curl -H "Authorization: Bearer $(cat ${config.data_dir}/admin.token)" ${address}/api/v1/alerts`,
    );
  else
    lines.push(
      "  auth:       bearer tokens from configuration (IDENTRAIL_TOKENS / IDENTRAIL_ADMIN_TOKEN / auth.tokens)",
    );
  console.log(lines.join("\n"));
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ sig }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await rt.stop().catch((e) => logger.error({ err: (e as Error).message }, "shutdown error"));
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
