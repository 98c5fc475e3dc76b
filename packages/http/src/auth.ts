import { createHash, randomBytes } from "node:crypto";
import type { Config, Scope } from "@identrail/config";
import { SCOPES, sha256Hex } from "@identrail/config";
import type { FastifyReply, FastifyRequest } from "fastify";
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import { httpError } from "./errors";

export interface Principal {
  name: string;
  scopes: ReadonlySet<Scope>;
  via: "token" | "oidc";
  /** sha256 of the bearer credential: the rate-limit key (never the credential itself). */
  key: string;
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface TokenEntry {
  name: string;
  scopes: Set<Scope>;
  expiresAt?: number;
}

export type Authenticate = (authorization: string | undefined) => Promise<Principal>;

export interface ExtraTokenSource {
  /** Looks a token hash up in a store (API-issued tokens); undefined when unknown. */
  lookup(hash: string): Promise<(TokenEntry & { revoked?: boolean }) | undefined>;
}

export interface AuthenticatorOptions {
  /** API-issued tokens (services/api token store). */
  extra?: ExtraTokenSource;
  /** Key source for OIDC JWTs; defaults to the remote JWKS of `auth.oidc` (tests inject a local set). */
  oidcKeys?: JWTVerifyGetKey;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Scopes from a claim that is a space-separated string (RFC 8693 §4.2 `scope`) or an array (`scp`, `roles`). */
export function scopesFromClaim(v: unknown): Set<Scope> {
  const parts =
    typeof v === "string" ? v.split(/\s+/) : Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  return new Set(parts.filter((p): p is Scope => (SCOPES as readonly string[]).includes(p)));
}

/** JWKS from the configured `jwks_uri`, or discovered from the issuer's OpenID configuration (OIDC Discovery 1.0 §4). */
function remoteKeys(oidc: NonNullable<Config["auth"]["oidc"]>): JWTVerifyGetKey {
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const load = async (): Promise<JWTVerifyGetKey> => {
    if (oidc.jwks_uri) return createRemoteJWKSet(new URL(oidc.jwks_uri), { cacheMaxAge: 600_000 });
    const res = await fetch(
      new URL(
        ".well-known/openid-configuration",
        oidc.issuer.endsWith("/") ? oidc.issuer : `${oidc.issuer}/`,
      ),
      {
        signal: AbortSignal.timeout(5000),
      },
    );
    if (!res.ok) throw new Error(`OIDC discovery failed with HTTP ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: string };
    if (!doc.jwks_uri) throw new Error("OIDC discovery document has no jwks_uri");
    return createRemoteJWKSet(new URL(doc.jwks_uri), { cacheMaxAge: 600_000 });
  };
  return async (header, token) => {
    keys ??= load().catch((e) => {
      keys = undefined; // retry discovery on the next request
      throw e;
    });
    return (await keys)(header, token);
  };
}

/** Bearer-token authentication: hashed tokens (config/env), a token store, and OIDC JWTs when configured. */
export function createAuthenticator(
  auth: Config["auth"],
  opts: AuthenticatorOptions | ExtraTokenSource = {},
): Authenticate {
  const o: AuthenticatorOptions = "lookup" in opts ? { extra: opts } : opts;
  const byHash = new Map<string, TokenEntry>();
  for (const t of auth.tokens) {
    const hash = t.sha256 ?? sha256Hex(t.token!);
    byHash.set(hash, {
      name: t.name,
      scopes: new Set(t.scopes),
      expiresAt: t.expires_at ? Date.parse(t.expires_at) : undefined,
    });
  }
  const oidc = auth.oidc;
  const keys = oidc ? (o.oidcKeys ?? remoteKeys(oidc)) : undefined;
  return async (header) => {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw httpError("unauthorized");
    const hash = createHash("sha256").update(m[1]).digest("hex");
    if (oidc && keys && JWT_SHAPE.test(m[1])) {
      try {
        // jose checks exp/nbf itself; iss and aud are pinned to the configuration.
        const { payload } = await jwtVerify(m[1], keys, {
          issuer: oidc.issuer,
          audience: oidc.audience,
          clockTolerance: 30,
        });
        return {
          name: `oidc:${String(payload.sub ?? "unknown")}`,
          scopes: scopesFromClaim(payload[oidc.scope_claim]),
          via: "oidc",
          key: hash,
        };
      } catch (e) {
        if ((e as { code?: string }).code === "ERR_JWT_EXPIRED") throw httpError("token_expired");
        throw httpError("unauthorized");
      }
    }
    let entry: (TokenEntry & { revoked?: boolean }) | undefined = byHash.get(hash);
    if (!entry && o.extra) entry = await o.extra.lookup(hash);
    if (!entry || entry.revoked) throw httpError("unauthorized");
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) throw httpError("token_expired");
    return { name: entry.name, scopes: entry.scopes, via: "token", key: hash };
  };
}

/** onRequest hook: runs before the body is read, so unauthenticated uploads are refused unread. */
export function requireScope(authenticate: Authenticate, scope: Scope) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const p = req.principal ?? (await authenticate(req.headers.authorization));
    req.principal = p;
    if (!p.scopes.has(scope)) throw httpError("forbidden", `requires scope ${scope}`);
  };
}

export function generateToken(): string {
  return `idt_${randomBytes(24).toString("base64url")}`;
}
