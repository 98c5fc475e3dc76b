import { createHash } from "node:crypto";
import { parseConfig } from "@identrail/config";
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { createAuthenticator, scopesFromClaim } from "../src";

const bearer = (t: string) => `Bearer ${t}`;

describe("scopesFromClaim", () => {
  it("accepts space-separated strings and arrays and drops unknown scopes", () => {
    expect([...scopesFromClaim("read respond openid")]).toEqual(["read", "respond"]);
    expect([...scopesFromClaim(["admin", 3, "email"])]).toEqual(["admin"]);
    expect(scopesFromClaim(undefined).size).toBe(0);
  });
});

describe("createAuthenticator", () => {
  const config = parseConfig({
    auth: {
      tokens: [
        { name: "reader", token: "reader-token-0123456789", scopes: ["read"] },
        {
          name: "old",
          token: "old-token-0123456789abc",
          scopes: ["read"],
          expires_at: "2020-01-01T00:00:00Z",
        },
      ],
      oidc: { issuer: "https://idp.example.com", audience: "identrail", scope_claim: "scp" },
    },
  });

  it("authenticates config tokens, refuses expired, unknown and revoked store tokens", async () => {
    const revokedHash = createHash("sha256").update("revoked-token-0123456789").digest("hex");
    const auth = createAuthenticator(config.auth, {
      extra: {
        lookup: async (h) =>
          h === revokedHash ? { name: "x", scopes: new Set(["read" as const]), revoked: true } : undefined,
      },
    });
    expect((await auth(bearer("reader-token-0123456789"))).name).toBe("reader");
    await expect(auth(bearer("old-token-0123456789abc"))).rejects.toMatchObject({ code: "token_expired" });
    await expect(auth(bearer("nope"))).rejects.toMatchObject({ code: "unauthorized" });
    await expect(auth(undefined)).rejects.toMatchObject({ code: "unauthorized" });
    await expect(auth(bearer("revoked-token-0123456789"))).rejects.toMatchObject({ code: "unauthorized" });
  });

  it("verifies OIDC JWTs against the key set with the configured scope claim", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "a", alg: "RS256" }] });
    const auth = createAuthenticator(config.auth, { oidcKeys: keys });
    const jwt = await new SignJWT({ scp: ["read", "respond"] })
      .setProtectedHeader({ alg: "RS256", kid: "a" })
      .setIssuer("https://idp.example.com")
      .setAudience("identrail")
      .setSubject("pipeline-bot")
      .setExpirationTime("5m")
      .sign(privateKey);
    const p = await auth(bearer(jwt));
    expect(p).toMatchObject({ name: "oidc:pipeline-bot", via: "oidc" });
    expect([...p.scopes].sort()).toEqual(["read", "respond"]);
    expect(p.key).toMatch(/^[0-9a-f]{64}$/);
  });
});
