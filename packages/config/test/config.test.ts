import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration, sha256Hex } from "../src";

const file = (text: string) => {
  const p = join(tmpdir(), `identrail-config-${process.pid}-${Math.random()}.yaml`);
  writeFileSync(p, text);
  return p;
};

describe("config", () => {
  it("has working defaults with no file and no env", () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.data_dir).toBe("./data");
    expect(c.target).toBe("all");
    expect(c.detector.learning_period).toBe(7 * 86_400_000);
    expect(c.kafka.brokers).toEqual([]);
  });

  it("reads YAML and lets env vars override it", () => {
    const p = file("port: 9000\ndetector:\n  learning_period: 2d\nkafka:\n  brokers: [a:9092]\n");
    const c = loadConfig({
      IDENTRAIL_CONFIG: p,
      PORT: "9100",
      KAFKA_BROKERS: "k1:9092, k2:9092",
      CLICKHOUSE_URL: "http://ch:8123",
    });
    expect(c.port).toBe(9100);
    expect(c.detector.learning_period).toBe(2 * 86_400_000);
    expect(c.kafka.brokers).toEqual(["k1:9092", "k2:9092"]);
    expect(c.clickhouse.url).toBe("http://ch:8123");
  });

  it("fails fast naming the bad field", () => {
    const p = file("port: 99999\ndetector:\n  learning_period: soon\n");
    expect(() => loadConfig({ IDENTRAIL_CONFIG: p })).toThrow(ConfigError);
    try {
      loadConfig({ IDENTRAIL_CONFIG: p });
    } catch (e) {
      expect((e as Error).message).toMatch(/port/);
      expect((e as Error).message).toMatch(/detector\.learning_period/);
    }
    expect(() => loadConfig({ PORT: "abc" })).toThrow(/port/);
    expect(() => loadConfig({ IDENTRAIL_CONFIG: "/nonexistent/identrail.yaml" })).toThrow(
      /cannot read IDENTRAIL_CONFIG/,
    );
    expect(() => loadConfig({ IDENTRAIL_CONFIG: file("a: [") })).toThrow(/not valid YAML/);
  });

  it("parses IDENTRAIL_TOKENS and IDENTRAIL_ADMIN_TOKEN; tokens are kept for hashing only", () => {
    const c = loadConfig({
      IDENTRAIL_TOKENS: "bot:ingest:abcdefghijklmnop1234,soc:read+respond:qrstuvwxyz0123456789",
      IDENTRAIL_ADMIN_TOKEN: "admin-token-abcdefghij",
    });
    expect(c.auth.tokens.map((t) => [t.name, t.scopes])).toEqual([
      ["bot", ["ingest"]],
      ["soc", ["read", "respond"]],
      ["admin", ["ingest", "read", "respond", "admin"]],
    ]);
    expect(() => loadConfig({ IDENTRAIL_TOKENS: "broken" })).toThrow(/IDENTRAIL_TOKENS/);
    expect(() => loadConfig({ IDENTRAIL_TOKENS: "x:superuser:abcdefghijklmnop1234" })).toThrow(
      /auth\.tokens/,
    );
    expect(sha256Hex("a")).toHaveLength(64);
  });

  it("parses durations", () => {
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration(42)).toBe(42);
    expect(parseDuration("7x")).toBeNull();
    expect(parseDuration("")).toBeNull();
  });
});
