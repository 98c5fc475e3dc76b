import { describe, expect, it } from "vitest";
import { StateStore } from "../src/state";

const H = 3_600_000;
const T0 = Date.parse("2026-11-01T00:00:00Z");

describe("StateStore feature persistence", () => {
  it("writes a new value, then a repeated one at most once per hour of event time", () => {
    const st = new StateStore(undefined);
    const s = st.get("k8s:sa:prod/ml/trainer");
    st.learn(s, "secret", "vault:kv/ml/hf", T0);
    expect(st.takePendingFeatures()).toHaveLength(1);
    st.learn(s, "secret", "vault:kv/ml/hf", T0 + 10 * 60_000);
    st.learn(s, "secret", "vault:kv/ml/hf", T0 + 50 * 60_000);
    expect(st.takePendingFeatures()).toHaveLength(0);
    // In memory the observation is exact even when it is not written.
    expect(s.features.get("secret")!.get("vault:kv/ml/hf")!.last).toBe(T0 + 50 * 60_000);
    st.learn(s, "secret", "vault:kv/ml/hf", T0 + H);
    const rows = st.takePendingFeatures();
    expect(rows).toHaveLength(1);
    expect(rows[0].last_seen).toBe("2026-11-01 01:00:00.000");
  });

  it("always writes an earlier first sighting (late data moves the baseline)", () => {
    const st = new StateStore(undefined);
    const s = st.get("id");
    st.learn(s, "secret", "x", T0);
    st.takePendingFeatures();
    st.learn(s, "secret", "x", T0 - 60_000);
    const rows = st.takePendingFeatures();
    expect(rows).toHaveLength(1);
    expect(rows[0].first_seen).toBe("2026-10-31 23:59:00.000");
  });

  it("writes every later observation of features the rules compare by time", () => {
    const st = new StateStore(undefined);
    const s = st.get("id");
    for (const f of ["pod_end", "job_end", "job_start", "workload"]) {
      st.learn(s, f, "w", T0);
      st.learn(s, f, "w", T0 + 1000);
    }
    st.takePendingFeatures();
    for (const f of ["pod_end", "job_end", "job_start", "workload"]) st.learn(s, f, "w", T0 + 2000);
    expect(st.takePendingFeatures()).toHaveLength(4);
  });
});
