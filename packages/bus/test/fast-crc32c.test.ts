/**
 * The native CRC-32C swapped into kafkajs: the same checksum as kafkajs' own JavaScript loop for any
 * bytes, installed before kafkajs' record batch encoder loads, and what that encoder then writes into a
 * batch header (checked in a fresh process, where kafkajs has not loaded the encoder yet).
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fastCrc32c } from "../src/fast-crc32c";

const require = createRequire(import.meta.url);
const jsCrc = require("kafkajs/src/protocol/recordBatch/crc32C/crc32C.js") as (b: Buffer) => number;

describe("fast CRC-32C for kafkajs", () => {
  it("matches the CRC-32C check value and kafkajs' own implementation on any bytes", () => {
    // RFC 3720 §B.4 / the Castagnoli check value for "123456789".
    expect(fastCrc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
        const b = Buffer.from(bytes);
        expect(fastCrc32c(b)).toBe(jsCrc(b) >>> 0);
      }),
      { numRuns: 500 },
    );
  });

  it("is what kafkajs' record batch encoder writes, once installed in a fresh process", () => {
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "fixtures/crc-child.ts")],
      {
        encoding: "utf8",
      },
    );
    const r = JSON.parse(out.trim().split("\n").pop() as string);
    expect(r).toMatchObject({ installed: true, inUse: true, again: true });
    expect(r.stored).toBe(r.expected);
    expect(r.stored).toBeGreaterThan(0);
  });
});
