import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** One registry per process; every component registers its metrics here. */
export const registry = new Registry();
let defaultsStarted = false;
export function startDefaultMetrics() {
  if (defaultsStarted) return;
  defaultsStarted = true;
  collectDefaultMetrics({ register: registry, prefix: "identrail_process_" });
}

/** Get-or-create, so a module re-evaluated in one process (tests, tsx watch) does not register twice. */
export function counter(name: string, help: string, labelNames: string[]) {
  return (
    (registry.getSingleMetric(name) as Counter<string> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

export const metrics = {
  ingestRecords: counter("identrail_collector_records_total", "Records received by the collector", [
    "source",
    "outcome",
  ]),
  ingestRequests: counter("identrail_collector_requests_total", "Ingest HTTP requests", ["source", "status"]),
  deadLetters: counter("identrail_pipeline_dead_letters_total", "Records sent to the dead-letter store", [
    "stage",
    "source",
    "reason",
  ]),
  dropped: counter(
    "identrail_pipeline_skipped_total",
    "Records intentionally not processed further (duplicate stage, duplicate id) by reason",
    ["stage", "source", "reason"],
  ),
  normalized: counter("identrail_normalizer_events_total", "Events normalized", ["source"]),
  detectorEvents: counter("identrail_detector_events_total", "Events processed by the detector", ["outcome"]),
  alerts: counter("identrail_detector_alerts_total", "Alert updates emitted", ["rule", "severity"]),
  storeWrites: counter("identrail_store_rows_total", "Rows written to ClickHouse", ["table"]),
  storeErrors: counter("identrail_store_errors_total", "ClickHouse write failures (retried)", ["table"]),
  apiRequests: counter("identrail_api_requests_total", "API requests", ["route", "status"]),
  busProduced: counter(
    "identrail_bus_produced_total",
    "Records handed to the bus (a packed raw message counts each record)",
    ["topic"],
  ),
  detectorLatency:
    (registry.getSingleMetric("identrail_detector_batch_seconds") as Histogram<string> | undefined) ??
    new Histogram({
      name: "identrail_detector_batch_seconds",
      help: "Time to process and store one consumed batch",
      labelNames: ["stage"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  consumerLag:
    (registry.getSingleMetric("identrail_detector_consumer_lag") as Gauge<string> | undefined) ??
    new Gauge({
      name: "identrail_detector_consumer_lag",
      help: "Messages behind the head of the partition (last batch seen)",
      labelNames: ["topic", "partition"],
      registers: [registry],
    }),
};
