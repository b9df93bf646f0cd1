/**
 * One way to open a NATS connection for the detector, its CLI and the consumer SDK:
 * token, user/password, NKey seed or creds file; TLS; reconnect forever with jittered,
 * growing waits; status changes logged without credentials.
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { log as defaultLog, type Logger } from '../logger.ts';
import { Backoff } from '../delivery/backoff.ts';

/**
 * TLS settings. An empty object changes nothing (config files carry `tls: {}` by default):
 * the client still upgrades when the server requires TLS, verifying against the system CAs.
 * Set `required` to insist on TLS even when the server would allow plain text.
 */
export interface NatsTlsOptions {
  required?: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Default true; only for test setups with self-signed servers. */
  rejectUnauthorized?: boolean;
}

export interface NatsConnectOptions {
  servers: string | string[];
  token?: string;
  user?: string;
  pass?: string;
  /** An NKey user seed ("SU…"), or a path to a file holding it (nkeySeedFile). */
  nkeySeed?: string;
  nkeySeedFile?: string;
  /** A .creds file (JWT + seed); re-read on every (re)connect so rotated creds are picked up. */
  credsFile?: string;
  tls?: NatsTlsOptions;
  name?: string;
  /** Keep trying when the first connect fails (default true: the detector starts before NATS). */
  waitOnFirstConnect?: boolean;
  /** Cap of the growing reconnect wait (default 10 s). */
  reconnectMaxWaitMs?: number;
  /** Handshake timeout (default 10 s). */
  timeoutMs?: number;
}

/** nats://user:secret@host → nats://***@host, so server URLs can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
}

function authenticators(o: NatsConnectOptions): Authenticator[] {
  const out: Authenticator[] = [];
  if (o.credsFile) {
    const file = o.credsFile;
    out.push(credsAuthenticator(() => new Uint8Array(readFileSync(file))));
  }
  const seed = o.nkeySeed ?? (o.nkeySeedFile ? readFileSync(o.nkeySeedFile, 'utf8').trim() : undefined);
  if (seed) out.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  return out;
}

/** Translate our options into the client's (exported for tests; holds secrets: never log it). */
export function toClientOptions(o: NatsConnectOptions): NodeConnectionOptions {
  return buildClientOptions(o).options;
}

function buildClientOptions(o: NatsConnectOptions): { options: NodeConnectionOptions; resetBackoff: () => void } {
  const maxWait = o.reconnectMaxWaitMs ?? 10_000;
  // The project's one backoff: 125 ms … 500 ms first, the ceiling doubling to maxWait.
  const backoff = new Backoff({ baseMs: 500, maxMs: maxWait, floorMs: Math.min(125, maxWait) });
  const opts: NodeConnectionOptions = {
    servers: o.servers,
    name: o.name ?? 'robot-sre-detector',
    reconnect: true,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: o.waitOnFirstConnect ?? true,
    timeout: o.timeoutMs ?? 10_000,
    // Growing waits with jitter so a fleet of replicas does not reconnect in lockstep after
    // a NATS restart; reset once connected (see watchStatus).
    reconnectDelayHandler: () => backoff.next(),
  };
  if (o.token) opts.token = o.token;
  if (o.user) {
    opts.user = o.user;
    if (o.pass !== undefined) opts.pass = o.pass;
  }
  const auth = authenticators(o);
  if (auth.length === 1) opts.authenticator = auth[0];
  else if (auth.length > 1) opts.authenticator = auth;
  const t = o.tls;
  if (t && (t.required || t.caFile || t.certFile || t.keyFile || t.rejectUnauthorized === false)) {
    opts.tls = {
      ...(t.caFile ? { caFile: t.caFile } : {}),
      ...(t.certFile ? { certFile: t.certFile } : {}),
      ...(t.keyFile ? { keyFile: t.keyFile } : {}),
      ...(t.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    };
  }
  return {
    options: opts,
    resetBackoff: () => {
      backoff.reset();
    },
  };
}

/** The parts of the options that are safe to log. */
export function describeOptions(o: NatsConnectOptions): Record<string, unknown> {
  const servers = Array.isArray(o.servers) ? o.servers : [o.servers];
  return {
    servers: servers.map(redactUrl),
    auth: o.credsFile ? 'creds' : o.nkeySeed || o.nkeySeedFile ? 'nkey' : o.user ? 'user' : o.token ? 'token' : 'none',
    tls: Boolean(o.tls && (o.tls.required || o.tls.caFile || o.tls.certFile || o.tls.keyFile)),
    name: o.name ?? 'robot-sre-detector',
  };
}

export async function connectNats(o: NatsConnectOptions, logger: Logger = defaultLog): Promise<NatsConnection> {
  const { options, resetBackoff } = buildClientOptions(o);
  logger.info({ nats: describeOptions(o) }, 'connecting to NATS');
  const nc = await connect(options);
  logger.info({ server: redactUrl(nc.getServer()), serverVersion: nc.info?.version }, 'connected to NATS');
  void watchStatus(nc, logger, resetBackoff);
  return nc;
}

async function watchStatus(nc: NatsConnection, logger: Logger, resetBackoff?: () => void): Promise<void> {
  try {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          logger.warn({ server: redactUrl(s.server) }, 'NATS disconnected');
          break;
        case 'reconnect':
          resetBackoff?.();
          logger.info({ server: redactUrl(s.server) }, 'NATS reconnected');
          break;
        case 'reconnecting':
          logger.debug('NATS reconnecting');
          break;
        case 'error':
          // Server errors carry no credentials, but keep to the message to be sure.
          logger.warn({ err: s.error.message }, 'NATS error');
          break;
        case 'ldm':
          logger.info({ server: redactUrl(s.server) }, 'NATS server entering lame-duck mode');
          break;
        case 'staleConnection':
          logger.warn('NATS connection stale');
          break;
        case 'slowConsumer':
          logger.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'NATS slow consumer');
          break;
        case 'close':
          logger.info('NATS connection closed');
          break;
        default:
          break;
      }
    }
  } catch (err) {
    logger.debug({ err: (err as Error).message }, 'NATS status iterator ended');
  }
}

// ---- CLI flags shared by `streams` and `findings` -------------------------------------------

/** node:util parseArgs option spec for connection flags. */
export const natsFlagSpec = {
  server: { type: 'string', multiple: true },
  token: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  nkey: { type: 'string' },
  creds: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

export const natsFlagHelp = `Connection (flags win over environment):
  --server URL        NATS server(s), repeatable or comma-separated   [NATS_URL, default nats://127.0.0.1:4222]
  --token T           token auth (prefer the env var: argv is visible) [NATS_TOKEN]
  --user U --password P                                               [NATS_USER, NATS_PASSWORD]
  --nkey FILE         NKey user seed file                              [NATS_NKEY]
  --creds FILE        credentials file (JWT + seed)                    [NATS_CREDS]
  --tls-ca FILE --tls-cert FILE --tls-key FILE                        [NATS_CA, NATS_CERT, NATS_KEY]`;

export interface NatsFlagValues {
  server?: string[];
  token?: string;
  user?: string;
  password?: string;
  nkey?: string;
  creds?: string;
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}

export function natsOptionsFromFlags(
  v: NatsFlagValues,
  env: NodeJS.ProcessEnv = process.env,
  name = 'robot-sre-detector-cli',
): NatsConnectOptions {
  const servers = (v.server?.length ? v.server : [env.NATS_URL ?? 'nats://127.0.0.1:4222'])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const o: NatsConnectOptions = { servers, name, waitOnFirstConnect: false };
  const token = v.token ?? env.NATS_TOKEN;
  if (token) o.token = token;
  const user = v.user ?? env.NATS_USER;
  if (user) {
    o.user = user;
    const pass = v.password ?? env.NATS_PASSWORD;
    if (pass !== undefined) o.pass = pass;
  }
  const nkey = v.nkey ?? env.NATS_NKEY;
  if (nkey) o.nkeySeedFile = nkey;
  const creds = v.creds ?? env.NATS_CREDS;
  if (creds) o.credsFile = creds;
  const caFile = v['tls-ca'] ?? env.NATS_CA;
  const certFile = v['tls-cert'] ?? env.NATS_CERT;
  const keyFile = v['tls-key'] ?? env.NATS_KEY;
  if (caFile || certFile || keyFile) {
    o.tls = {
      ...(caFile ? { caFile } : {}),
      ...(certFile ? { certFile } : {}),
      ...(keyFile ? { keyFile } : {}),
    };
  }
  return o;
}
