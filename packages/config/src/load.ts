import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { ZodError } from "zod";
import { type Config, ConfigSchema, SCOPES, type Scope } from "./schema";

export class ConfigError extends Error {}

export const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** Env vars that override the config file (documented in README's configuration table). */
function envOverrides(env: NodeJS.ProcessEnv, base: Record<string, any>) {
  const c: Record<string, any> = structuredClone(base);
  const set = (path: string[], value: unknown) => {
    let o = c;
    for (const p of path.slice(0, -1)) o = o[p] ??= {};
    o[path[path.length - 1]] = value;
  };
  if (env.PORT) set(["port"], env.PORT);
  if (env.HOST) set(["host"], env.HOST);
  if (env.DATA_DIR) set(["data_dir"], env.DATA_DIR);
  if (env.IDENTRAIL_TARGET) set(["target"], env.IDENTRAIL_TARGET);
  if (env.IDENTRAIL_CLUSTER) set(["default_cluster"], env.IDENTRAIL_CLUSTER);
  if (env.KAFKA_BROKERS)
    set(
      ["kafka", "brokers"],
      env.KAFKA_BROKERS.split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    );
  if (env.CLICKHOUSE_URL) set(["clickhouse", "url"], env.CLICKHOUSE_URL);
  if (env.CLICKHOUSE_DATABASE) set(["clickhouse", "database"], env.CLICKHOUSE_DATABASE);
  if (env.CLICKHOUSE_USER) set(["clickhouse", "username"], env.CLICKHOUSE_USER);
  if (env.CLICKHOUSE_PASSWORD) set(["clickhouse", "password"], env.CLICKHOUSE_PASSWORD);
  if (env.CLICKHOUSE_CLUSTER) set(["clickhouse", "cluster"], env.CLICKHOUSE_CLUSTER);
  if (env.IDENTRAIL_NOTIFIER) set(["api", "notifier"], !/^(off|false|0|no)$/i.test(env.IDENTRAIL_NOTIFIER));
  if (env.IDENTRAIL_LEARNING_PERIOD) set(["detector", "learning_period"], env.IDENTRAIL_LEARNING_PERIOD);
  const tokens: any[] = [...(c.auth?.tokens ?? [])];
  if (env.IDENTRAIL_TOKENS) tokens.push(...parseTokensEnv(env.IDENTRAIL_TOKENS));
  if (env.IDENTRAIL_ADMIN_TOKEN)
    tokens.push({ name: "admin", token: env.IDENTRAIL_ADMIN_TOKEN, scopes: [...SCOPES] });
  if (tokens.length) set(["auth", "tokens"], tokens);
  return c;
}

/** IDENTRAIL_TOKENS="name:scope+scope:token,…" */
export function parseTokensEnv(v: string) {
  return v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const parts = entry.split(":");
      if (parts.length < 3)
        throw new ConfigError(`IDENTRAIL_TOKENS entry ${i + 1}: expected name:scope+scope:token`);
      const [name, scopes, ...rest] = parts;
      return { name, scopes: scopes.split("+") as Scope[], token: rest.join(":") };
    });
}

export function formatZodError(e: ZodError): string {
  return e.issues.map((i) => `  - ${i.path.join(".") || "(root)"}: ${i.message}`).join("\n");
}

/** Loads config: YAML file from IDENTRAIL_CONFIG (optional), env overrides, zod validation. Fails fast. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Record<string, unknown> = {},
): Config {
  let file: Record<string, unknown> = {};
  if (env.IDENTRAIL_CONFIG) {
    let text: string;
    try {
      text = readFileSync(env.IDENTRAIL_CONFIG, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read IDENTRAIL_CONFIG=${env.IDENTRAIL_CONFIG}: ${(e as Error).message}`);
    }
    try {
      file = (parseYaml(text) as Record<string, unknown>) ?? {};
    } catch (e) {
      throw new ConfigError(`IDENTRAIL_CONFIG is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    if (typeof file !== "object" || Array.isArray(file))
      throw new ConfigError("IDENTRAIL_CONFIG must be a YAML mapping");
  }
  return parseConfig({ ...envOverrides(env, file), ...overrides });
}

export function parseConfig(raw: unknown): Config {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`invalid configuration:\n${formatZodError(r.error)}`);
  return r.data;
}
