export * from "./body";
export * from "./ingest";
export * from "./inventory";
export * from "./tailer";
