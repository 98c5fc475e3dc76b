export * from "./notifier";
export * from "./receivers";
export * from "./send";
export * from "./ssrf";
