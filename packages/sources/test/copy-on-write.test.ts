/**
 * Redaction copies on write: what it leaves alone is shared with the input, what it changes is a copy,
 * and the input itself is never modified. Its JSON is what a full deep copy's was.
 */
import { describe, expect, it } from "vitest";
import { isCredentialKey, REDACTED, redactKeys } from "../src/common";
import { redactVault } from "../src/sources/vault";

describe("copy-on-write redaction", () => {
  it("shares clean subtrees, copies changed ones, and leaves the input as it was", () => {
    const input = JSON.parse(
      '{"a":{"b":[1,"x",{"c":null}]},"d":{"Password":"p","e":{"f":1}},"__proto__":{"token":"t"},"g":[[{"Cookie":"c"}]]}',
    );
    const before = JSON.stringify(input);
    const out = redactKeys(input, isCredentialKey) as Record<string, any>;
    expect(JSON.stringify(input)).toBe(before);
    expect(out).not.toBe(input);
    expect(out.a).toBe(input.a);
    expect(out.d).not.toBe(input.d);
    expect(out.d.e).toBe(input.d.e);
    expect(out.d.Password).toBe(REDACTED);
    expect(Object.keys(out)).toEqual(Object.keys(input));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(JSON.stringify(out)).toBe(
      '{"a":{"b":[1,"x",{"c":null}]},"d":{"Password":"[redacted]","e":{"f":1}},"__proto__":{"token":"[redacted]"},"g":[[{"Cookie":"[redacted]"}]]}',
    );
    expect(redactKeys(input.a, isCredentialKey)).toBe(input.a);
  });

  it("keeps all-HMAC Vault data as it is and copies data with plaintext", () => {
    const hmac = "hmac-sha256:ab";
    const r = JSON.parse(
      `{"type":"response","time":"2024-01-01T00:00:00Z","auth":{"client_token":"${hmac}"},"request":{"path":"p","operation":"read","data":{"k":"${hmac}"}},"response":{"data":{"v":"plain","w":["${hmac}",2]}}}`,
    );
    const before = JSON.stringify(r);
    const out = redactVault(r) as Record<string, any>;
    expect(JSON.stringify(r)).toBe(before);
    expect(out.auth).toBe(r.auth);
    expect(out.request.data).toBe(r.request.data);
    expect(out.response.data).not.toBe(r.response.data);
    expect(out.response.data).toEqual({ v: REDACTED, w: [hmac, REDACTED] });
  });
});
