/**
 * Splits one produce into consecutive sends so that no partition's record batch in a send exceeds what a
 * broker accepts. Kafka checks `message.max.bytes` (default 1048588, ~1 MiB:
 * https://kafka.apache.org/documentation/#brokerconfigs_message.max.bytes) against each partition's
 * record batch of a produce request, and kafkajs puts all of a send's messages for a partition into one
 * batch: a 10 MB request whose records share one principal would be refused whole (MESSAGE_TOO_LARGE)
 * and retried forever. Messages keep their order per partition (and per key, for messages kafkajs
 * places): a partition's messages only ever move to later sends, which are sent one after another.
 */

/** Bytes of message data per partition per send, with room under 1 MiB for record and batch headers. */
export const MAX_PARTITION_SEND_BYTES = 900 * 1024;

/** Per-record overhead counted beside key and value (varints, attributes, timestamp/offset deltas). */
const RECORD_OVERHEAD = 32;

export function sendRounds<
  T extends { key?: string | Buffer | null; value: Buffer | string; partition?: number },
>(messages: T[], max = MAX_PARTITION_SEND_BYTES): T[][] {
  const rounds: T[][] = [];
  const used: Map<number, number>[] = [];
  // Messages without an explicit partition are placed by kafkajs at send time: counted together, which
  // bounds every partition they could land on.
  const roundOf = new Map<number, number>();
  for (const m of messages) {
    const p = m.partition ?? -1;
    const size = m.value.length + (m.key?.length ?? 0) + RECORD_OVERHEAD;
    let r = roundOf.get(p) ?? 0;
    const sofar = used[r]?.get(p) ?? 0;
    if (sofar > 0 && sofar + size > max) r++;
    roundOf.set(p, r);
    const u = (used[r] ??= new Map());
    u.set(p, (u.get(p) ?? 0) + size);
    (rounds[r] ??= []).push(m);
  }
  return rounds;
}
