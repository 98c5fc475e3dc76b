import { parseConfig } from "@identrail/config";
import { describe, expect, it } from "vitest";
import { checkUrl, classifyAddress, postJson, validateNotifyConfig } from "../src";

const strict = { allow_private: false, allow_loopback: false };

describe("SSRF guard", () => {
  it("classifies addresses", () => {
    expect(classifyAddress("169.254.169.254")).toBe("metadata");
    expect(classifyAddress("fd00:ec2::254")).toBe("metadata");
    expect(classifyAddress("169.254.10.1")).toBe("link-local");
    expect(classifyAddress("fe80::1")).toBe("link-local");
    expect(classifyAddress("10.1.2.3")).toBe("private");
    expect(classifyAddress("fd12:3456::1")).toBe("private");
    expect(classifyAddress("127.0.0.1")).toBe("loopback");
    expect(classifyAddress("::ffff:127.0.0.1")).toBe("loopback");
    expect(classifyAddress("::ffff:169.254.169.254")).toBe("metadata");
    expect(classifyAddress("0.0.0.0")).toBe("reserved");
    expect(classifyAddress("93.184.216.34")).toBe("public");
  });

  it("refuses forbidden receiver URLs unless explicitly allowed", async () => {
    await expect(
      checkUrl("http://169.254.169.254/latest/meta-data", { allow_private: true, allow_loopback: true }),
    ).rejects.toThrow(/metadata/);
    await expect(checkUrl("http://[fe80::1]/hook", strict)).rejects.toThrow(/link-local/);
    await expect(
      checkUrl("http://[fe80::1]/hook", { ...strict, allow_private: true }),
    ).resolves.toBeUndefined();
    await expect(checkUrl("http://10.0.0.7/hook", strict)).rejects.toThrow(/private/);
    await expect(checkUrl("http://127.0.0.1:9093", strict)).rejects.toThrow(/loopback/);
    await expect(checkUrl("http://localhost:9093", strict)).rejects.toThrow(/loopback/);
    await expect(
      checkUrl("http://localhost:9093", { ...strict, allow_loopback: true }),
    ).resolves.toBeUndefined();
    await expect(checkUrl("http://user:pw@192.0.2.1/", strict)).rejects.toThrow(/credentials/);
  });

  it("refuses at boot and again at send time", async () => {
    const config = parseConfig({
      receivers: [{ name: "meta", type: "slack", url: "http://169.254.169.254/hook" }],
      routes: [{ receiver: "meta" }],
    });
    await expect(validateNotifyConfig(config)).rejects.toThrow(/receiver meta/);
    const bad = parseConfig({
      receivers: [{ name: "x", type: "slack", url: "https://hooks.example.com/x" }],
      routes: [{ receiver: "nope" }],
    });
    await expect(validateNotifyConfig(bad)).rejects.toThrow(/unknown receiver/);
    const viaName = await postJson("http://localhost:1/hook", "{}", {}, { ...strict, timeout: 2000 });
    expect(viaName).toMatchObject({ status: 0, error: expect.stringMatching(/loopback/) });
    const viaIp = await postJson("http://127.0.0.1:1/hook", "{}", {}, { ...strict, timeout: 2000 });
    expect(viaIp).toMatchObject({ status: 0, error: expect.stringMatching(/loopback/) });
  });
});
