import { counter } from "@identrail/core";

export const inventoryMetrics = {
  records: counter(
    "identrail_inventory_records_total",
    "Inventory records published and acknowledged by the bus",
    ["kind", "type"],
  ),
  watchErrors: counter(
    "identrail_inventory_watch_errors_total",
    "List/watch failures of the inventory informers (each is retried with backoff)",
    ["kind"],
  ),
  publishErrors: counter(
    "identrail_inventory_publish_errors_total",
    "Inventory publishes the bus did not acknowledge (retried)",
    [],
  ),
};
