import { createHash, randomBytes } from "node:crypto";
import type { Config, Scope } from "@identrail/config";
import { sha256Hex } from "@identrail/config";
import type { FastifyReply, FastifyRequest } from "fastify";
import { httpError } from "./errors";

export interface Principal {
  name: string;
  scopes: ReadonlySet<Scope>;
  via: "token" | "oidc";
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

interface TokenEntry {
  name: string;
  scopes: Set<Scope>;
  expiresAt?: number;
}

export type Authenticate = (authorization: string | undefined) => Promise<Principal>;

export interface ExtraTokenSource {
  /** Looks a token hash up in a store (API-issued tokens); undefined when unknown. */
  lookup(hash: string): Promise<(TokenEntry & { revoked?: boolean }) | undefined>;
}

/** Bearer-token authentication against hashed tokens (config/env) and, optionally, a token store. */
export function createAuthenticator(auth: Config["auth"], extra?: ExtraTokenSource): Authenticate {
  const byHash = new Map<string, TokenEntry>();
  for (const t of auth.tokens) {
    const hash = t.sha256 ?? sha256Hex(t.token!);
    byHash.set(hash, {
      name: t.name,
      scopes: new Set(t.scopes),
      expiresAt: t.expires_at ? Date.parse(t.expires_at) : undefined,
    });
  }
  return async (header) => {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw httpError("unauthorized");
    const hash = createHash("sha256").update(m[1]).digest("hex");
    let entry: (TokenEntry & { revoked?: boolean }) | undefined = byHash.get(hash);
    if (!entry && extra) entry = await extra.lookup(hash);
    if (!entry || entry.revoked) throw httpError("unauthorized");
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) throw httpError("token_expired");
    return { name: entry.name, scopes: entry.scopes, via: "token" };
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
