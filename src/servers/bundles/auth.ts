/**
 * Who may ask the bundle server for what. Clients send `Authorization: Bearer <JWT>`, HS256-signed
 * with a shared secret (≥ 32 characters, from the environment); the algorithm is pinned, `exp` is
 * required, a small clock skew is tolerated. The scope claims (allowedNamespaces, allowedServices,
 * capabilities, admin) decide what a valid token reaches: missing or invalid token → 401, a valid
 * token outside its scope → 403. A token without any scope claim ("legacy") gets full access only when
 * `legacyFullAccess` is on; otherwise it reaches nothing. Tokens in the query string are never read.
 */
import type { IncomingMessage } from 'node:http';
import { jwtVerify } from 'jose';

export const CAPABILITIES = ['pods', 'logs', 'events', 'metrics'] as const;
export type Capability = (typeof CAPABILITIES)[number];
export const MIN_SECRET_CHARS = 32;

export interface Principal {
  readonly sub: string | undefined;
  readonly admin: boolean;
  /** Namespace patterns (exact or with `*` wildcards); empty = none. */
  readonly namespaces: readonly string[];
  readonly services: readonly string[];
  readonly capabilities: ReadonlySet<Capability>;
  /** No scope claim at all, accepted because legacyFullAccess is on. */
  readonly legacy: boolean;
}

export class AuthError extends Error {
  readonly status: 401 | 403;
  constructor(status: 401 | 403, message: string) {
    super(message);
    this.status = status;
  }
}

export interface AuthOptions {
  secret: string;
  clockSkewSeconds: number;
  legacyFullAccess: boolean;
}

const SCOPE_CLAIMS = ['allowedNamespaces', 'allowedServices', 'capabilities', 'admin'] as const;

function stringList(v: unknown, claim: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 253)) throw new AuthError(401, `invalid token: ${claim} must be a list of names`);
  if (v.length > 256) throw new AuthError(401, `invalid token: ${claim} too long`);
  return v as string[];
}

export class Authenticator {
  private readonly key: Uint8Array;
  private readonly opts: AuthOptions;

  constructor(opts: AuthOptions) {
    if (opts.secret.length < MIN_SECRET_CHARS) throw new Error(`the JWT secret must be at least ${MIN_SECRET_CHARS} characters`);
    this.key = new TextEncoder().encode(opts.secret);
    this.opts = opts;
  }

  /** The principal of a request, or an AuthError (401 for any token problem: the reason is never echoed in detail). */
  async authenticate(req: IncomingMessage): Promise<Principal> {
    const h = req.headers.authorization;
    if (typeof h !== 'string' || h.length === 0) throw new AuthError(401, 'missing bearer token');
    const m = /^Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)$/.exec(h.trim());
    if (!m || h.length > 8192) throw new AuthError(401, 'invalid token');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(m[1]!, this.key, { algorithms: ['HS256'], requiredClaims: ['exp'], clockTolerance: this.opts.clockSkewSeconds }));
    } catch {
      throw new AuthError(401, 'invalid token');
    }
    const scoped = SCOPE_CLAIMS.some((c) => payload[c] !== undefined);
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    if (!scoped) {
      if (this.opts.legacyFullAccess) return { sub, admin: true, namespaces: ['*'], services: ['*'], capabilities: new Set(CAPABILITIES), legacy: true };
      return { sub, admin: false, namespaces: [], services: [], capabilities: new Set(), legacy: false };
    }
    if (payload.admin !== undefined && typeof payload.admin !== 'boolean') throw new AuthError(401, 'invalid token: admin must be a boolean');
    const caps = stringList(payload.capabilities, 'capabilities');
    const admin = payload.admin === true;
    return {
      sub,
      admin,
      namespaces: stringList(payload.allowedNamespaces, 'allowedNamespaces'),
      services: stringList(payload.allowedServices, 'allowedServices'),
      capabilities: new Set(admin ? CAPABILITIES : caps.filter((c): c is Capability => (CAPABILITIES as readonly string[]).includes(c))),
      legacy: false,
    };
  }
}

/** `*` matches any run of characters (also none); everything else literally. Linear time (no regex backtracking). */
export function wildcardMatch(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === name;
  let p = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === name[n]) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** May the principal read namespace `ns`? `*` (all namespaces) needs admin or allowedNamespaces ["*"]. */
export function mayNamespace(p: Principal, ns: string): boolean {
  if (p.admin) return true;
  if (ns === '*') return p.namespaces.includes('*');
  return p.namespaces.some((pat) => wildcardMatch(pat, ns));
}

export function mayService(p: Principal, service: string): boolean {
  return p.admin || p.services.some((pat) => wildcardMatch(pat, service));
}

export function requireCapabilities(p: Principal, caps: Iterable<Capability>): void {
  const missing = [...caps].filter((c) => !p.capabilities.has(c));
  if (missing.length) throw new AuthError(403, `token lacks capability ${missing.join(', ')}`);
}

export function requireNamespaces(p: Principal, namespaces: Iterable<string>): void {
  for (const ns of namespaces) if (!mayNamespace(p, ns)) throw new AuthError(403, ns === '*' ? 'token does not permit all namespaces' : 'token does not permit that namespace');
}
