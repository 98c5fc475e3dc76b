/**
 * The load generator (`bench/gen`) writes every source in the vendor's own format: each request body it
 * builds must decode, pass the collector's checks and normalize into events under today's parsers, or the
 * benchmarks that use it would measure rejections instead of work.
 */
import { parsers } from "@identrail/sources";
import { describe, expect, it } from "vitest";
import { GEN_SOURCES, Traffic, usableSources } from "../bench/gen/index";

describe("load generator", () => {
  it("every generated source is accepted by its parser", () => {
    expect(usableSources()).toEqual(GEN_SOURCES);
  });

  it.each(GEN_SOURCES)("%s: a body of 50 records becomes 50 events of several identities", (source) => {
    const t = new Traffic({ seed: 7, identities: 200 });
    const p = parsers[source]!;
    const { text } = t.body(source, 50);
    const { records, errors } = p.decode(text);
    expect(errors).toEqual([]);
    expect(records).toHaveLength(50);
    const principals = new Set<string>();
    let events = 0;
    for (const r of records) {
      const a = p.accept(r);
      expect(a.ok).toBe(true);
      if (!a.ok) continue;
      const n = p.normalize(JSON.parse(JSON.stringify(a.value.record)), {
        cluster: "prod",
        receivedAt: "2026-11-01T00:00:00.000Z",
      });
      expect(n.ok).toBe(true);
      if (!n.ok) continue;
      for (const e of n.value.events) {
        events++;
        principals.add(e.actor.principal);
      }
    }
    expect(events).toBe(50);
    expect(principals.size).toBeGreaterThan(5);
  });
});
