import type { Writable } from 'node:stream';
import { parseCommand } from './args.ts';
import { connectNats, natsFlagHelp, natsFlagSpec, natsOptionsFromFlags } from '../nats/connection.ts';
import { applyLayout, DEFAULT_STATE_BUCKET, DEFAULT_STREAMS, type ApplyResult } from '../nats/streams.ts';

const fmtAge = (ms: number): string => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${Math.round(ms / 60_000)}m`);
const fmtBytes = (b: number): string => (b >= 1 << 30 ? `${b / (1 << 30)} GiB` : `${b / (1 << 20)} MiB`);

export const help = `Usage: robot-sre-detector streams apply [--dry-run] [--allow-shrink] [--replicas N] [--memory] [connection flags]

Provision the JetStream layout, idempotently: create what is missing, update only fields that
differ, never delete a stream. Lowering a limit (max_age, max_bytes, …) would drop stored
messages, so it is refused unless --allow-shrink is given.

Layout (limits retention, discard old):
${DEFAULT_STREAMS.map(
  (s) => `  ${s.name.padEnd(17)} ${s.subjects.join(',').padEnd(20)} age ${fmtAge(s.maxAgeMs).padEnd(5)} size ${fmtBytes(s.maxBytes).padEnd(9)} dup window ${fmtAge(s.duplicateWindowMs)}`,
).join('\n')}
  KV ${DEFAULT_STATE_BUCKET.bucket.padEnd(27)} history ${DEFAULT_STATE_BUCKET.history}, key ttl ${fmtAge(DEFAULT_STATE_BUCKET.ttlMs)}, size ${fmtBytes(DEFAULT_STATE_BUCKET.maxBytes)}

Options:
  --dry-run        Show what would change; change nothing.
  --allow-shrink   Allow lowering limits (drops messages beyond the new limits).
  --replicas N     Stream replicas (default 1; 3 on a clustered NATS).
  --memory         Memory storage instead of file (tests only).
  --json           Print the results as JSON.
  -h, --help       Show this help.

${natsFlagHelp}

Exit status: 0 when every stream is created/updated/unchanged, 1 when any is blocked or failed.
`;

export interface StreamsIo {
  stdout: Writable;
  stderr: Writable;
  env?: NodeJS.ProcessEnv;
}

export async function run(argv: string[], io: StreamsIo = process): Promise<number> {
  const parsed = parseCommand(
    'streams',
    argv,
    {
      ...natsFlagSpec,
      'dry-run': { type: 'boolean' },
      'allow-shrink': { type: 'boolean' },
      replicas: { type: 'string' },
      memory: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    help,
    io,
    { subcommand: 'apply' },
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const replicas = v.replicas === undefined ? 1 : Number(v.replicas);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    io.stderr.write('streams: --replicas must be an integer from 1 to 5\n');
    return 2;
  }
  const nc = await connectNats(natsOptionsFromFlags(v, io.env ?? process.env));
  let results: ApplyResult[];
  try {
    results = await applyLayout(nc, {
      dryRun: v['dry-run'] ?? false,
      allowShrink: v['allow-shrink'] ?? false,
      replicas,
      storage: v.memory ? 'memory' : 'file',
    });
  } finally {
    await nc.close();
  }
  if (v.json) {
    io.stdout.write(`${JSON.stringify(results)}\n`);
  } else {
    for (const r of results) {
      const name = `${r.kind === 'kv' ? 'KV ' : ''}${r.name}`;
      io.stdout.write(`${name.padEnd(30)} ${r.action}${r.error ? `: ${r.error}` : ''}\n`);
      for (const c of r.changes) io.stdout.write(`    ${c.field}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}\n`);
    }
  }
  return results.some((r) => r.action === 'error' || r.action === 'blocked') ? 1 : 0;
}
