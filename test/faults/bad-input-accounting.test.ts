/**
 * Fault: 1,000 bad records injected at every stage that can drop one — the collector (records that fail
 * validation, malformed NDJSON lines, invalid UTF-8 lines), the normalizer (envelopes it cannot use,
 * records that do not normalize) and the detector (normalized events that fail the schema). Every one
 * must be accounted for: a labelled dead-letter counter increment per record, a `rejected` collector
 * count for the collector's share, and one dead_letters row each; the good records around them all land.
 */
import { startRuntime } from "@identrail/cli";
import { Topics } from "@identrail/schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent } from "../helpers/k8s";
import { auth, INGEST_TOKEN, testConfig, waitFor } from "../helpers/runtime";
import { figureLine } from "./helpers";

let rt: Awaited<ReturnType<typeof startRuntime>>;
beforeAll(async () => {
  rt = await startRuntime(testConfig());
});
afterAll(async () => {
  await rt?.stop();
});

let seq = 0;
const good = () =>
  k8sEvent({
    auditID: `30000000-0000-4000-8000-${String(seq++).padStart(12, "0")}`,
    user: `system:serviceaccount:ml:job-${seq % 9}`,
    verb: "get",
    resource: "configmaps",
    namespace: "ml",
    name: `cm-${seq % 13}`,
    time: at("2026-11-01", 0, 9, seq % 60),
  });

async function post(body: string | Buffer, contentType = "application/json") {
  const res = await rt.app.inject({
    method: "POST",
    url: "/ingest/k8s-audit?cluster=prod",
    headers: { ...auth(INGEST_TOKEN), "content-type": contentType },
    payload: body,
  });
  expect(res.statusCode).toBe(200);
  return res.json() as { accepted: number; rejected: number };
}

/** Sum of a Prometheus counter's samples whose labels match `filter`, read from /metrics. */
async function metricSum(name: string, filter: (labels: string) => boolean = () => true) {
  const res = await rt.app.inject({ url: "/metrics" });
  let sum = 0;
  for (const line of res.body.split("\n")) {
    const m = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (m && filter(m[1])) sum += Number(m[2]);
  }
  return sum;
}

async function scalar(query: string, query_params: Record<string, unknown> = {}): Promise<number> {
  const rs = await rt.store!.ch.query({ query, query_params, format: "JSONEachRow" });
  const [r] = (await rs.json()) as { n: string }[];
  return Number(r.n);
}

describe("drop accounting", () => {
  it("1,000 bad records: every one counted with a labelled reason and stored as a dead letter", async () => {
    let goodSent = 0;
    let goodOnBus = 0; // written to the raw topic directly, not acknowledged by the collector
    let acknowledged = 0;
    let rejectedByCollector = 0;
    const bad = { collector: 0, normalizer: 0, detector: 0 };

    // Collector A: 300 records that fail validation, inside EventLists with good ones.
    for (let r = 0; r < 3; r++) {
      const items = [];
      for (let i = 0; i < 100; i++) {
        const g = good();
        items.push(g);
        const b: Record<string, unknown> = { ...good() };
        if (i % 3 === 0) delete b.verb;
        else if (i % 3 === 1) b.apiVersion = "audit.k8s.io/v0";
        else b.user = "not-an-object";
        items.push(b);
      }
      const res = await post(JSON.stringify(eventList(items)));
      goodSent += 100;
      bad.collector += 100;
      acknowledged += res.accepted;
      rejectedByCollector += res.rejected;
    }
    // Collector B: 200 malformed NDJSON lines (the log backend's format) between good lines.
    for (let r = 0; r < 2; r++) {
      const lines: string[] = [];
      for (let i = 0; i < 100; i++) {
        lines.push(JSON.stringify(good()));
        lines.push(JSON.stringify(good()).slice(0, 40 + i));
      }
      const res = await post(lines.join("\n"), "application/x-ndjson");
      goodSent += 100;
      bad.collector += 100;
      acknowledged += res.accepted;
      rejectedByCollector += res.rejected;
    }
    // Collector C: 100 lines that are not valid UTF-8.
    {
      const parts: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        parts.push(Buffer.from(`${JSON.stringify(good())}\n`));
        parts.push(
          Buffer.concat([
            Buffer.from('{"kind":"Event","x":"'),
            Buffer.from([0xc3, 0x28]),
            Buffer.from('"}\n'),
          ]),
        );
      }
      const res = await post(Buffer.concat(parts), "application/x-ndjson");
      goodSent += 100;
      bad.collector += 100;
      acknowledged += res.accepted;
      rejectedByCollector += res.rejected;
    }

    // Normalizer: 200 envelopes on the raw topic it cannot use (as a buggy or foreign producer would write).
    const env = (record: unknown, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        v: 1,
        source: "k8s-audit",
        cluster: "prod",
        received_at: "2026-11-01T09:00:00.000Z",
        record,
        ...extra,
      });
    const rawBad = [];
    for (let i = 0; i < 40; i++) {
      rawBad.push({ key: "x", value: `{"v":1,"source":"k8s-audit","record":${i}` }); // not JSON
      rawBad.push({ key: "x", value: env(good(), { v: 3 }) }); // unknown envelope version
      rawBad.push({ key: "x", value: env(good(), { source: "no-such-source" }) });
      // A packed (v2) envelope with two bad records among good ones: each bad record is dead-lettered on
      // its own (own reason, own id), the good ones around them are stored.
      const badA = { kind: "Event", apiVersion: "audit.k8s.io/v1" }; // does not normalize
      const badB = 42; // not an object
      const { record: _r, ...head } = JSON.parse(env(null));
      rawBad.push({
        key: "x",
        value: JSON.stringify({ ...head, v: 2, records: [good(), badA, good(), badB] }),
      });
      goodSent += 2;
      goodOnBus += 2;
    }
    await rt.bus!.produce(Topics.raw("k8s-audit"), rawBad);
    bad.normalizer += rawBad.length + 40; // each packed envelope holds two bad records

    // Detector: 200 messages on the events topic that are not normalized events.
    const evBad = [];
    for (let i = 0; i < 100; i++) {
      evBad.push({ key: "x", value: `not json ${i}` });
      evBad.push({ key: "x", value: JSON.stringify({ id: `e${i}`, source: "k8s-audit" }) });
    }
    await rt.bus!.produce(Topics.events, evBad);
    bad.detector += evBad.length;

    const totalBad = bad.collector + bad.normalizer + bad.detector;
    expect(totalBad).toBe(1000);

    await waitFor(
      async () =>
        (await scalar("SELECT count() AS n FROM dead_letters")) >= totalBad &&
        (await scalar("SELECT uniqExact(id) AS n FROM events")) >= goodSent,
      120_000,
      250,
    );
    const deadRows = await scalar("SELECT count() AS n FROM dead_letters");
    const deadByStage = async (stage: string) =>
      scalar("SELECT count() AS n FROM dead_letters WHERE stage = {stage:String}", { stage });
    const stored = await scalar("SELECT uniqExact(id) AS n FROM events");
    const storedRows = await scalar("SELECT count() AS n FROM events");
    const counted = {
      collector: await metricSum("identrail_pipeline_dead_letters_total", (l) =>
        l.includes('stage="collector"'),
      ),
      normalizer: await metricSum("identrail_pipeline_dead_letters_total", (l) =>
        l.includes('stage="normalizer"'),
      ),
      detector: await metricSum("identrail_pipeline_dead_letters_total", (l) =>
        l.includes('stage="detector"'),
      ),
    };
    const rejectedMetric = await metricSum("identrail_collector_records_total", (l) =>
      l.includes('outcome="rejected"'),
    );
    const unlabelled = await metricSum(
      "identrail_pipeline_dead_letters_total",
      (l) => !/reason="[^"]+"/.test(l),
    );
    figureLine("bad-input-accounting", {
      sent: goodSent + totalBad,
      acknowledged,
      stored,
      duplicates: storedRows - stored,
      lost: goodSent - stored,
      bad_injected: totalBad,
      dead_letter_rows: deadRows,
      counted_collector: counted.collector,
      counted_normalizer: counted.normalizer,
      counted_detector: counted.detector,
      collector_rejected: rejectedMetric,
    });
    expect(acknowledged).toBe(goodSent - goodOnBus);
    expect(rejectedByCollector).toBe(bad.collector);
    expect(rejectedMetric).toBe(bad.collector);
    expect(counted).toEqual(bad);
    expect(unlabelled).toBe(0);
    expect(deadRows).toBe(totalBad);
    expect(await deadByStage("collector")).toBe(bad.collector);
    expect(await deadByStage("normalizer")).toBe(bad.normalizer);
    // Every dead letter has its own id, the packed records' included.
    expect(await scalar("SELECT uniqExact(id) AS n FROM dead_letters")).toBe(totalBad);
    // …and its own reason: not JSON, unsupported envelope, and the two packed bad records' two reasons.
    expect(
      await scalar("SELECT uniqExact(reason) AS n FROM dead_letters WHERE stage = {stage:String}", {
        stage: "normalizer",
      }),
    ).toBe(4);
    expect(await deadByStage("detector")).toBe(bad.detector);
    expect(stored).toBe(goodSent);
    expect(storedRows).toBe(goodSent);
  }, 180_000);
});
