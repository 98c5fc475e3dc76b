import { randomUUID } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import { SCOPES, type Scope, sha256Hex } from "@identrail/config";
import { type ExtraTokenSource, generateToken, httpError, type TokenEntry } from "@identrail/http";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ch64, insertRows, iso, nextVersion, parseQuery, Rfc3339, rows } from "./query";

interface TokenRow {
  id: string;
  name: string;
  sha256: string;
  scopes: string[];
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const CACHE_MS = 10_000;

/**
 * API-issued tokens, looked up by sha256 through createAuthenticator's ExtraTokenSource hook. Lookups
 * (hits and misses) are cached briefly so a flood of bad tokens cannot hammer ClickHouse; revocation in
 * this process clears the cache at once, other processes see it within CACHE_MS.
 */
export class TokenStore implements ExtraTokenSource {
  private cache = new Map<string, { at: number; entry?: TokenEntry & { revoked?: boolean } }>();
  constructor(private ch: ClickHouseClient) {}

  async lookup(hash: string) {
    const hit = this.cache.get(hash);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.entry;
    const [r] = await rows<TokenRow>(
      this.ch,
      "SELECT id, name, sha256, scopes, created_by, created_at, expires_at, revoked_at FROM api_tokens FINAL WHERE sha256 = {h:String} LIMIT 1",
      { h: hash },
    ).catch(() => [] as TokenRow[]);
    const entry = r
      ? {
          name: `token:${r.name}`,
          scopes: new Set(r.scopes.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s))),
          expiresAt: r.expires_at ? Date.parse(iso(r.expires_at)) : undefined,
          revoked: r.revoked_at !== null,
        }
      : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { at: Date.now(), entry });
    return entry;
  }
  invalidate() {
    this.cache.clear();
  }
}

const stores = new WeakMap<ClickHouseClient, TokenStore>();
/** One token store per ClickHouse client, shared by the authenticator and the admin routes. */
export function tokenStoreFor(ch: ClickHouseClient): TokenStore {
  let s = stores.get(ch);
  if (!s) stores.set(ch, (s = new TokenStore(ch)));
  return s;
}

const CreateToken = z.object({
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/),
  scopes: z.array(z.enum(SCOPES)).min(1),
  expires_at: Rfc3339.optional(),
});

const tokenJson = (r: TokenRow) => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes,
  created_by: r.created_by,
  created_at: iso(r.created_at),
  expires_at: r.expires_at ? iso(r.expires_at) : null,
  revoked_at: r.revoked_at ? iso(r.revoked_at) : null,
});

export async function tokenRoutes(app: FastifyInstance, opts: { ch: ClickHouseClient }) {
  const { ch } = opts;
  const store = tokenStoreFor(ch);
  const admin = { scope: "admin" as const };

  app.post(
    "/api/v1/tokens",
    {
      config: admin,
      schema: {
        summary: "Create an API token (shown once)",
        tags: ["admin"],
        body: z.toJSONSchema(CreateToken, { io: "input" }),
      },
    },
    async (req, reply) => {
      const b = parseQuery(CreateToken, req.body);
      if (b.expires_at && Date.parse(b.expires_at) <= Date.now())
        throw httpError("bad_request", "expires_at is in the past");
      const token = generateToken();
      const now = new Date().toISOString();
      const row = {
        id: randomUUID(),
        name: b.name,
        sha256: sha256Hex(token),
        scopes: b.scopes,
        created_by: req.principal?.name ?? "",
        created_at: ch64(now),
        expires_at: b.expires_at ? ch64(b.expires_at) : null,
        revoked_at: null,
        version: nextVersion(),
      };
      await insertRows(ch, "api_tokens", [row]);
      store.invalidate();
      req.auditRows = 1;
      return reply.status(201).send({ ...tokenJson(row), token });
    },
  );

  app.get(
    "/api/v1/tokens",
    { config: admin, schema: { summary: "List API tokens (never the secrets)", tags: ["admin"] } },
    async (req) => {
      const list = await rows<TokenRow>(
        ch,
        "SELECT id, name, sha256, scopes, created_by, created_at, expires_at, revoked_at FROM api_tokens FINAL ORDER BY created_at DESC, id LIMIT 10000",
        {},
      );
      req.auditRows = list.length;
      return { items: list.map(tokenJson) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/api/v1/tokens/:id",
    { config: admin, schema: { summary: "Revoke an API token", tags: ["admin"] } },
    async (req) => {
      const [r] = await rows<TokenRow & { version: string }>(
        ch,
        "SELECT id, name, sha256, scopes, created_by, created_at, expires_at, revoked_at FROM api_tokens FINAL WHERE id = {id:String} LIMIT 1",
        { id: req.params.id },
      );
      if (!r) throw httpError("not_found", "unknown token");
      const revoked_at = r.revoked_at ?? ch64(new Date().toISOString());
      await insertRows(ch, "api_tokens", [{ ...r, revoked_at, version: nextVersion() }]);
      store.invalidate();
      req.auditRows = 1;
      return tokenJson({ ...r, revoked_at });
    },
  );
}
