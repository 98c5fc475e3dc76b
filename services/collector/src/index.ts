export * from "./body";
export * from "./ingest";
