/**
 * kafkajs computes the CRC-32C of every record batch it produces (Kafka's v2 record batch format,
 * https://kafka.apache.org/documentation/#recordbatch) with a byte-at-a-time JavaScript table loop.
 * Profiling the producer thread under the collector benchmark put that loop at ~1.1 ms per 430 KB request
 * and a fifth of the thread's busy time. This swaps in @node-rs/crc32's native CRC-32C (SSE 4.2 / ARMv8
 * CRC instructions) under the module path kafkajs requires it from, before kafkajs first loads that path.
 *
 * kafkajs is pinned (2.2.x, unchanged since 2023); if its layout ever moved, `installFastCrc32c` finds
 * nothing to replace, returns false, and kafkajs keeps its own (correct, slower) checksum.
 */
import { createRequire, Module } from "node:module";
import { crc32c } from "@node-rs/crc32";

const require = createRequire(import.meta.url);

/** kafkajs' CRC-32C entry point, as `recordBatch/v0/index.js` requires it (`require('../crc32C')`). */
const KAFKAJS_CRC = "kafkajs/src/protocol/recordBatch/crc32C/index.js";
const KAFKAJS_BATCH = "kafkajs/src/protocol/recordBatch/v0/index.js";

/** Same contract as kafkajs' `crc32C(buffer)`: the unsigned CRC-32C of the bytes. */
export function fastCrc32c(buffer: Buffer): number {
  return crc32c(buffer) >>> 0;
}

/**
 * Installs fastCrc32c for kafkajs in this thread. True when kafkajs will use it: its record batch encoder
 * has not been loaded yet (it captures the function when it loads) or already holds this one.
 */
export function installFastCrc32c(): boolean {
  let crcPath: string;
  let batchPath: string;
  try {
    crcPath = require.resolve(KAFKAJS_CRC);
    batchPath = require.resolve(KAFKAJS_BATCH);
  } catch {
    return false;
  }
  const cache = require.cache;
  const current = cache[crcPath];
  if (current?.exports === fastCrc32c) return true;
  if (cache[batchPath]) return false;
  const m = new Module(crcPath);
  m.filename = crcPath;
  m.loaded = true;
  m.exports = fastCrc32c;
  cache[crcPath] = m;
  return true;
}
