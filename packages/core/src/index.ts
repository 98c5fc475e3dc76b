export * from "./errors";
export * from "./identity-ids";
export * from "./ids";
export * from "./logger";
export * from "./metrics";
export * from "./reason";
export * from "./result";
