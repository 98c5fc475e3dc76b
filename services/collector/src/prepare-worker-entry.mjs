// Worker entry in plain JavaScript: it registers tsx (a runtime dependency) for this thread before
// loading the TypeScript worker, whatever loader the parent runs under (tsx, a test runner, none).
import { register } from "tsx/esm/api";

register();
await import("./prepare-worker.ts");
