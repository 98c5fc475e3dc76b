// biome-ignore-all lint/suspicious/noUndeclaredEnvVars: Azure Functions app settings
// Event Hub batch → Identrail /ingest/azure-keyvault. Each event body is a diagnostic-settings
// document {"records":[…]}; records are concatenated into one request per batch.
module.exports = async function forward(context, events) {
  const records = [];
  for (const e of events) {
    const doc = typeof e === "string" ? JSON.parse(e) : e;
    for (const r of doc.records ?? [doc]) records.push(r);
  }
  if (!records.length) return;
  const url = `${process.env.IDENTRAIL_URL}/ingest/azure-keyvault?cluster=${encodeURIComponent(process.env.IDENTRAIL_CLUSTER || "default")}`;
  const res = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${process.env.IDENTRAIL_INGEST_TOKEN}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ records }),
  });
  // Throwing leaves the checkpoint where it was, so the batch is delivered again.
  if (!res.ok) throw new Error(`identrail answered ${res.status} for ${records.length} records`);
  context.log(`forwarded ${records.length} Key Vault records`);
};
