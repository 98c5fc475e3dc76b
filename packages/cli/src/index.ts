export * from "./app";
export * from "./runtime";
export * from "./server";
