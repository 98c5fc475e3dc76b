/**
 * The api target wires the notifier: an alert stored in ClickHouse reaches a configured webhook, and
 * receiver URLs that fail the SSRF policy stop the process at boot.
 */
import { rmSync } from "node:fs";
import { startRuntime } from "@identrail/cli";
import { parseConfig } from "@identrail/config";
import { afterAll, describe, expect, it } from "vitest";
import { Recorder, upsertAlert } from "../../../packages/notify/test/helpers";
import { apiConfig } from "./helpers";

const base = apiConfig();
const hook = new Recorder();

afterAll(async () => {
  await hook.stop();
  rmSync(base.data_dir, { recursive: true, force: true });
});

describe("api target with alert routing", () => {
  it("refuses a metadata-service receiver at boot", async () => {
    const config = parseConfig({
      ...base,
      receivers: [
        {
          name: "meta",
          type: "webhook",
          url: "http://169.254.169.254/latest",
          secret: "0123456789abcdef0123",
        },
      ],
      routes: [{ receiver: "meta" }],
    });
    await expect(startRuntime(config)).rejects.toThrow(/receiver meta: address class metadata/);
  });

  it("delivers stored alerts to the configured receiver", async () => {
    await hook.start();
    const config = parseConfig({
      ...base,
      receivers: [
        {
          name: "hook",
          type: "webhook",
          url: hook.url,
          secret: "0123456789abcdef0123",
          allow_loopback: true,
        },
      ],
      routes: [{ receiver: "hook", group_wait: 0 }],
    });
    const rt = await startRuntime(config);
    try {
      await upsertAlert(rt.store!.ch, { id: "rt-1", version: 1 });
      for (let i = 0; i < 150 && !hook.requests.length; i++) await new Promise((r) => setTimeout(r, 100));
      expect(hook.json()[0].notifications[0]).toMatchObject({ dedup_key: "rt-1", kind: "firing" });
    } finally {
      await rt.stop();
    }
  });
});
