/**
 * Meta-test of the detection catalog: every rule file exports `rule` whose id equals its file name, ids
 * are unique, every rule is registered, and every rule's true and false cases behave as declared when run
 * through the real Engine (in memory; the ClickHouse round trip is covered by engine.test.ts and the
 * scenarios). Each case also runs twice into a fresh engine to check replay gives the same alert ids.
 */
import { readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@identrail/config";
import { severityRank } from "@identrail/schema";
import { describe, expect, it } from "vitest";
import type { RuleCase } from "../src/cases";
import { Engine } from "../src/engine";
import { RULES, type Rule } from "../src/rules";

const rulesDir = join(dirname(fileURLToPath(import.meta.url)), "../src/rules");
const files = readdirSync(rulesDir)
  .filter((f) => f.endsWith(".ts") && f !== "index.ts" && f !== "types.ts" && !f.endsWith(".test.ts"))
  .map((f) => basename(f, ".ts"));
const modules = await Promise.all(
  files.map(async (f) => ({
    file: f,
    mod: (await import(join(rulesDir, `${f}.ts`))) as { rule: Rule; cases?: RuleCase[] },
  })),
);

export function caseConfig(c: RuleCase) {
  return parseConfig({ default_cluster: "prod", detector: { learning_period: "2d" }, ...(c.config ?? {}) });
}

describe("detection catalog", () => {
  it("has the twelve rule ids of issue 4, each equal to its file name, unique and registered", () => {
    expect(files.sort()).toEqual(
      [
        "secret-read-unusual",
        "secret-enumeration",
        "off-hours-access",
        "gpu-job-unexpected",
        "artifact-exfiltration",
        "checkpoint-tampering",
        "credential-after-job",
        "shared-identity",
        "privilege-escalation",
        "access-denied-burst",
        "dormant-identity-active",
        "promotion-separation-of-duties",
      ].sort(),
    );
    for (const { file, mod } of modules) expect(mod.rule.id).toBe(file);
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
    expect(RULES.map((r) => r.id).sort()).toEqual(files.sort());
  });

  it("gives every rule metadata and at least one true and one false case", () => {
    for (const { mod } of modules) {
      const r = mod.rule;
      expect(r.title.length, r.id).toBeGreaterThan(5);
      expect(r.description.length, r.id).toBeGreaterThan(20);
      expect(r.sources.length, r.id).toBeGreaterThan(0);
      expect(
        r.mitre.every((m) => /^T\d{4}(\.\d{3})?$/.test(m)),
        r.id,
      ).toBe(true);
      expect(
        mod.cases?.some((c) => c.expect.fires),
        r.id,
      ).toBe(true);
      expect(
        mod.cases?.some((c) => !c.expect.fires),
        r.id,
      ).toBe(true);
    }
  });

  for (const { file, mod } of modules) {
    for (const c of mod.cases ?? []) {
      it(`${file}: ${c.name} → ${c.expect.fires ? "fires" : "stays quiet"}`, async () => {
        const engine = new Engine(caseConfig(c), undefined, [mod.rule]);
        const out = await engine.process(c.events);
        const identity = c.expect.identity ?? c.events[c.events.length - 1].identity_id;
        const mine = out.alerts.filter((a) => a.rule === file && a.identity_id === identity);
        if (c.expect.fires) {
          expect(
            mine.length,
            JSON.stringify(out.alerts.map((a) => [a.identity_id, a.title])),
          ).toBeGreaterThan(0);
          if (c.expect.severity) {
            const top = Math.max(...mine.map((a) => severityRank(a.severity)));
            expect(top, mine.map((a) => `${a.severity} ${a.title}`).join("; ")).toBeGreaterThanOrEqual(
              severityRank(c.expect.severity),
            );
          }
        } else {
          expect(
            out.alerts.filter((a) => a.rule === file).map((a) => `${a.identity_id}: ${a.title}`),
          ).toEqual([]);
        }
        // Replay: the same input into a fresh engine gives the same alert groups.
        const again = await new Engine(caseConfig(c), undefined, [mod.rule]).process(c.events);
        expect(again.alerts.map((a) => a.id).sort()).toEqual(out.alerts.map((a) => a.id).sort());
      });
    }
  }
});
