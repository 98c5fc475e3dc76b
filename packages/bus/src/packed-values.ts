/**
 * Message values handed to the producer thread as UTF-8 in one transferable buffer: posting it moves the
 * memory instead of cloning hundreds of strings, and kafkajs then copies bytes instead of measuring and
 * encoding each string on the producer thread (the busier of the two under load).
 */
export interface PackedValues {
  bytes: Uint8Array;
  lengths: Uint32Array;
}

export function packValues(values: string[]): PackedValues {
  const lengths = new Uint32Array(values.length);
  let total = 0;
  for (let i = 0; i < values.length; i++) total += lengths[i] = Buffer.byteLength(values[i]);
  // Not from Buffer's shared pool: the whole ArrayBuffer is transferred.
  const bytes = Buffer.allocUnsafeSlow(total);
  let off = 0;
  for (let i = 0; i < values.length; i++) off += bytes.write(values[i], off, lengths[i]);
  return { bytes, lengths };
}

export function unpackValues(keys: string[], { bytes, lengths }: PackedValues) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const messages = new Array<{ key: string; value: Buffer }>(keys.length);
  let off = 0;
  for (let i = 0; i < keys.length; i++)
    messages[i] = { key: keys[i], value: buf.subarray(off, (off += lengths[i])) };
  return messages;
}
