import type { Writable } from 'node:stream';
import { parseCommand } from './args.ts';
import { tailFindings } from '../consumer/tail.ts';
import type { FindingStatus } from '../model/finding.ts';
import { connectNats, natsFlagHelp, natsFlagSpec, natsOptionsFromFlags } from '../nats/connection.ts';
import type { FindingEnvelope } from '../nats/envelope.ts';

export const help = `Usage: robot-sre-detector findings tail [options] [connection flags]

Follow findings live from the OPS_FINDINGS stream (an ordered, ephemeral consumer: nothing is
acknowledged, no durable state is left behind).

Options:
  --namespace N      Only this namespace (repeatable). Cluster-scoped findings use "_".
  --type T           Only this incident type (repeatable).
  --event E          observed | recovered (repeatable).
  --all              Start with every retained finding instead of only new ones.
  --since TIME       Start at an RFC 3339 time.
  --count N          Exit after N findings.
  --output FORMAT    text (default) | ndjson (one CloudEvents envelope per line).
  -h, --help         Show this help.

${natsFlagHelp}
`;

export interface FindingsIo {
  stdout: Writable;
  stderr: Writable;
  env?: NodeJS.ProcessEnv;
  /** Stops the tail (tests); SIGINT/SIGTERM do the same from a terminal. */
  signal?: AbortSignal;
}

/** One readable line per finding. */
export function formatFinding(e: FindingEnvelope): string {
  const f = e.data;
  const status = f.status === 'observed' ? 'OBSERVED ' : 'RECOVERED';
  const parts = [
    f.observed_at,
    status,
    f.severity.padEnd(8),
    e.subject,
    f.incident_type,
    JSON.stringify(f.summary),
    `(×${f.count}, rule ${f.rule.id}@${f.rule.version}, id ${f.finding_id})`,
  ];
  let line = parts.join('  ');
  const sample = f.evidence.lines[0];
  if (sample) line += `\n    │ ${sample.line.replace(/\s+/g, ' ').slice(0, 160)}`;
  if (f.evidence.loki.query) line += `\n    └ loki: ${f.evidence.loki.query}`;
  return `${line}\n`;
}

export async function run(argv: string[], io: FindingsIo = process): Promise<number> {
  const parsed = parseCommand(
    'findings',
    argv,
    {
      ...natsFlagSpec,
      namespace: { type: 'string', multiple: true },
      type: { type: 'string', multiple: true },
      event: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      since: { type: 'string' },
      count: { type: 'string' },
      output: { type: 'string' },
    },
    help,
    io,
    { subcommand: 'tail' },
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const events = v.event ?? [];
  const badEvent = events.find((e) => e !== 'observed' && e !== 'recovered');
  if (badEvent !== undefined) {
    io.stderr.write(`findings: --event must be observed or recovered, not "${badEvent}"\n`);
    return 2;
  }
  const output = v.output ?? 'text';
  if (output !== 'text' && output !== 'ndjson') {
    io.stderr.write('findings: --output must be text or ndjson\n');
    return 2;
  }
  const count = v.count === undefined ? Number.POSITIVE_INFINITY : Number(v.count);
  if (!(count > 0)) {
    io.stderr.write('findings: --count must be a positive number\n');
    return 2;
  }
  if (v.since !== undefined && Number.isNaN(Date.parse(v.since))) {
    io.stderr.write('findings: --since must be an RFC 3339 time\n');
    return 2;
  }

  const nc = await connectNats(natsOptionsFromFlags(v, io.env ?? process.env));
  let seen = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const tail = await tailFindings({
    connection: nc,
    ...(v.namespace ? { namespaces: v.namespace } : {}),
    ...(v.type ? { incidentTypes: v.type } : {}),
    ...(events.length ? { events: events as FindingStatus[] } : {}),
    from: v.since ? { since: v.since } : v.all ? 'all' : 'new',
    onFinding: (e) => {
      if (seen >= count) return;
      io.stdout.write(output === 'ndjson' ? `${JSON.stringify(e)}\n` : formatFinding(e));
      if (++seen >= count) finish();
    },
    onInvalid: (subject, err) => io.stderr.write(`findings: skipped a message on ${subject}: ${err.message}\n`),
  });
  const onSignal = (): void => finish();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  io.signal?.addEventListener('abort', onSignal, { once: true });
  try {
    await Promise.race([done, tail.closed]);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await tail.stop();
    await nc.close();
  }
  return 0;
}
