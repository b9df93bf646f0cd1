/**
 * `nats:` in the config: where findings go (the JetStream findings sink). The connection it opens is
 * shared: `run` opens it first (`openNatsConnection`), because the JetStream KV state store and stream
 * provisioning need it before any other component is built, and hands it to the sink's build through
 * `BuildContext.nats`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { defineComponent, type BuildContext, type Built } from '../components/component.ts';
import { checkReadable, defineSchema, readSecret, type Values } from '../components/schema.ts';
import type { NatsConnectOptions } from './connection.ts';

export const natsSchema = defineSchema({
  servers: { type: 'list', default: [], doc: 'NATS URLs, e.g. `[nats://nats.robot-sre-detector.svc:4222]` (env NATS_URL, comma-separated); none: findings go to stdout as NDJSON' },
  tokenFile: { type: 'string', doc: 'file holding a token' },
  user: { type: 'string', doc: 'user name (with passwordFile)' },
  passwordFile: { type: 'string', doc: 'file holding the password' },
  nkeySeedFile: { type: 'string', doc: 'file holding an NKey seed' },
  credsFile: { type: 'string', doc: 'a `.creds` file (JWT + NKey seed) (env NATS_CREDS)' },
  tls: {
    type: 'mapping',
    doc: 'TLS (the client upgrades by itself when the server requires it)',
    fields: {
      caFile: { type: 'string', doc: 'CA bundle to verify the server' },
      certFile: { type: 'string', doc: 'client certificate (mutual TLS)' },
      keyFile: { type: 'string', doc: 'client key (mutual TLS)' },
    },
  },
  spoolDir: { type: 'string', doc: 'disk spool (64 MiB) behind the memory queue, for outages and what is unsent at shutdown; none: memory only' },
  maxQueue: { type: 'integer', min: 1, doc: 'findings held in memory while NATS is unreachable (default 10,000, also capped at 32 MiB), then the spool, then the oldest are dropped and counted' },
  provisionStreams: { type: 'boolean', default: true, doc: 'apply the stream layout at start (what `streams apply` does: creates what is missing, never deletes or shrinks)' },
});

export type NatsValues = Values<typeof natsSchema>;

/** The connection's options; secrets are read from their files here (a missing one fails, also in --check). */
export function natsConnectOptions(o: NatsValues, cluster: string): NatsConnectOptions {
  return {
    servers: o.servers,
    ...(o.tokenFile ? { token: readSecret(o.tokenFile, 'nats.tokenFile')! } : {}),
    ...(o.user ? { user: o.user, pass: readSecret(o.passwordFile, 'nats.passwordFile') ?? '' } : {}),
    ...(o.nkeySeedFile ? { nkeySeedFile: o.nkeySeedFile } : {}),
    ...(o.credsFile ? { credsFile: o.credsFile } : {}),
    tls: { ...(o.tls.caFile ? { caFile: o.tls.caFile } : {}), ...(o.tls.certFile ? { certFile: o.tls.certFile } : {}), ...(o.tls.keyFile ? { keyFile: o.tls.keyFile } : {}) },
    name: `robot-sre-detector/${cluster}`,
  };
}

/**
 * Opens the shared connection: it reconnects forever, and the promise settles on the first connect (the
 * findings sink queues until then). Secrets are read now, so a missing file throws here, not later.
 */
export function openNatsConnection(o: NatsValues, cluster: string): Promise<NatsConnection> {
  const options = natsConnectOptions(o, cluster);
  return import('./connection.ts').then(({ connectNats }) => connectNats(options));
}

export const natsComponent = defineComponent({
  key: 'nats',
  kind: 'findings-sink',
  doc: 'Publish findings to NATS JetStream (subjects and stream layout in docs/findings.md): deduplicated by message id, a bounded memory queue then an optional disk spool while NATS is unreachable, the stream layout applied at start. The same connection serves the JetStream KV state store (`state.store`).',
  schema: natsSchema,
  enabled: (o) => o.servers.length > 0,
  validate(o, ctx) {
    o.servers.forEach((s, i) => {
      // host:port alone is a NATS URL too (the client adds nats://).
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1]?.toLowerCase();
      if (/\s/.test(s) || (scheme !== undefined && !['nats', 'tls', 'ws', 'wss'].includes(scheme))) ctx.fail(`servers[${i}]`, 'must be a NATS URL: nats://, tls://, ws://, wss:// or host:port');
    });
    if (o.passwordFile && !o.user) ctx.fail('user', 'required with passwordFile');
    if ((o.tls.certFile === undefined) !== (o.tls.keyFile === undefined)) ctx.fail(o.tls.certFile ? 'tls.keyFile' : 'tls.certFile', 'certFile and keyFile go together');
  },
  build: (o, ctx) => buildFindingSink(o, ctx),
});

async function buildFindingSink(o: NatsValues, ctx: BuildContext): Promise<Built> {
  if (ctx.checkOnly) {
    natsConnectOptions(o, ctx.cluster); // the secret files
    for (const [field, file] of [['nkeySeedFile', o.nkeySeedFile], ['credsFile', o.credsFile], ['tls.caFile', o.tls.caFile], ['tls.certFile', o.tls.certFile], ['tls.keyFile', o.tls.keyFile]] as const) {
      if (file) checkReadable(file, `nats.${field}`);
    }
    return {};
  }
  if (!ctx.nats) throw new Error('nats: the connection was not opened (run opens it before building components)');
  const { JetStreamFindingSink } = await import('../sinks/jetstream.ts');
  const source = `robot-sre-detector/${ctx.cluster}`;
  return { findingSinks: [new JetStreamFindingSink({ connection: ctx.nats, source, ...(o.spoolDir ? { spoolDir: o.spoolDir } : {}), ...(o.maxQueue ? { maxQueue: o.maxQueue } : {}) })] };
}
