export * from "./errors";
export * from "./ids";
export * from "./logger";
export * from "./metrics";
export * from "./result";
export * from "./identity-ids";
export * from "./reason";
