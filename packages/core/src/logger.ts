import pino from "pino";

/** One logger for the process; structured JSON. Never log raw payloads (they may carry secrets). */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info"),
  base: { service: "identrail" },
  redact: { paths: ["*.authorization", "*.token", "req.headers.authorization"], censor: "[redacted]" },
});
export type Logger = typeof logger;
