import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src";

const ROOT = join(import.meta.dirname, "../../..");

describe("configuration examples in the docs", () => {
  it("docs/detection.md's policy example is a valid config", () => {
    const md = readFileSync(join(ROOT, "docs/detection.md"), "utf8");
    const yaml = /```yaml\n([\s\S]*?)```/.exec(md)?.[1];
    expect(yaml).toBeTruthy();
    const p = join(tmpdir(), `identrail-doc-${process.pid}.yaml`);
    writeFileSync(p, yaml!.replace(/…/g, ""));
    const c = loadConfig({ IDENTRAIL_CONFIG: p });
    expect(c.resources.map((r) => r.kind)).toEqual(["dataset", "checkpoint", "registry"]);
    expect(c.working_hours.timezone).toBe("Europe/Berlin");
    expect(c.detector.learning_period).toBe(7 * 86_400_000);
  });
});
