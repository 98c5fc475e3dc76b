export * from "./duration";
export * from "./load";
export * from "./schema";
