/**
 * Shapes Kubernetes audit events take on the way from a real cluster that are not the webhook's
 * EventList: the log backend writing to stdout and collected from the container runtime's log files (CRI
 * format, `<time> stdout F <event>`), pretty-printed events concatenated into one file, re-cased verbs.
 */
import { describe, expect, it } from "vitest";
import { k8sAudit } from "../src/sources/k8s-audit";
import { splitConcatenatedJson } from "../src/util";
import { fixture, run } from "./helpers";

describe("k8s-audit parser: shipper shapes", () => {
  it("CRI container log lines: the prefix is dropped, the Event inside is normalized at its own time", () => {
    const r = run(k8sAudit, fixture("k8s-audit/cri-stdout.txt"));
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.events.map((e) => e.raw_ref)).toEqual([
      "cri-0001/ResponseComplete",
      "cri-0002/ResponseComplete",
    ]);
    expect(r.events[0]).toMatchObject({
      time: "2026-11-20T02:00:00.000Z",
      resource: { uri: "k8s://prod-eu/ml-train/secrets/wandb-api-key" },
    });
    expect(r.events[0].actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "credential:prod-eu:JTI=0c1d2e3f-0000-4000-8000-000000000001",
    ]);
  });

  it("an upper-case verb (a shipper re-cased it) still maps to read", () => {
    const r = run(k8sAudit, fixture("k8s-audit/cri-stdout.txt"));
    expect(r.events[1]).toMatchObject({ operation: "GET", verb: "read" });
  });

  it("pretty-printed events concatenated in one body are split, not rejected line by line", () => {
    const r = run(k8sAudit, fixture("k8s-audit/concatenated-pretty.txt"));
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.events.map((e) => e.raw_ref)).toEqual([
      "pretty-0001/ResponseComplete",
      "pretty-0002/ResponseComplete",
    ]);
    // Fluent Bit's json_stream: objects back to back with no separator at all.
    const stream = fixture("k8s-audit/concatenated-pretty.txt")
      .split(/\n(?=\{)/)
      .map((s) => JSON.stringify(JSON.parse(s)))
      .join("");
    expect(run(k8sAudit, stream).events).toHaveLength(2);
  });

  it("a truncated last value is reported; braces inside strings do not confuse the splitter", () => {
    const a = JSON.stringify({ s: 'a } ] " {' });
    expect(splitConcatenatedJson(`${a}${a}`)).toEqual({
      values: [{ s: 'a } ] " {' }, { s: 'a } ] " {' }],
      rest: false,
    });
    expect(splitConcatenatedJson(`${a}\n${a.slice(0, 5)}`)).toEqual({
      values: [{ s: 'a } ] " {' }],
      rest: true,
    });
    const pretty = fixture("k8s-audit/concatenated-pretty.txt");
    const r = run(k8sAudit, pretty.slice(0, pretty.length - 40));
    expect(r.events).toHaveLength(1);
    expect(r.decodeErrors).toEqual(["value 2: malformed JSON"]);
  });
});
