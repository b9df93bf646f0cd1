import type { Writable } from 'node:stream';
import { parseCommand } from './args.ts';
import { tailFindings } from '../consumer/tail.ts';
import type { FindingStatus } from '../model/finding.ts';
import { connectNats, natsFlagHelp, natsFlagSpec, natsOptionsFromFlags } from '../nats/connection.ts';
import type { FindingEnvelope } from '../nats/envelope.ts';

export const help = `Usage: robot-sre-detector findings tail|timeline [options] [connection flags]

findings tail: follow findings live from the OPS_FINDINGS stream (an ordered, ephemeral consumer: nothing is
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

findings timeline: a post-incident timeline of the findings stored in a time range (first seen,
escalations, correlations, recoveries, evidence samples and LogQL links), ordered by event time.
  --since TIME       Start (RFC 3339, or a duration back from now: 2h, 30m). Required.
  --until TIME       End (RFC 3339 or a duration back from now; default now).
  --namespace N      Only this namespace (repeatable).
  --workload W       Only this workload (repeatable).
  --type T           Only this incident type (repeatable).
  --output FORMAT    markdown (default) | json.
  --max N            Read at most N findings (default 50000).

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
  if (argv[0] === 'timeline') return timeline(argv.slice(1), io);
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

/** RFC 3339, or a duration back from now ("2h"); null when it is neither. */
function timeArg(v: string, now: number): string | null {
  if (/^\d+(ms|s|m|h|d)$/.test(v)) {
    const n = Number.parseInt(v, 10);
    const unit = v.replace(/^\d+/, '');
    const f = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
    return new Date(now - n * f).toISOString();
  }
  return Number.isNaN(Date.parse(v)) ? null : new Date(v).toISOString();
}

async function timeline(argv: string[], io: FindingsIo): Promise<number> {
  const parsed = parseCommand(
    'findings timeline',
    argv,
    {
      ...natsFlagSpec,
      since: { type: 'string' },
      until: { type: 'string' },
      namespace: { type: 'string', multiple: true },
      workload: { type: 'string', multiple: true },
      type: { type: 'string', multiple: true },
      output: { type: 'string' },
      max: { type: 'string' },
    },
    help,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const now = Date.now();
  const since = v.since === undefined ? null : timeArg(v.since, now);
  const until = v.until === undefined ? new Date(now).toISOString() : timeArg(v.until, now);
  if (!since || !until) {
    io.stderr.write(`findings timeline: ${!since ? '--since is required and' : '--until'} must be an RFC 3339 time or a duration such as 2h\n`);
    return 2;
  }
  const output = v.output ?? 'markdown';
  if (output !== 'markdown' && output !== 'json') {
    io.stderr.write('findings timeline: --output must be markdown or json\n');
    return 2;
  }
  const max = v.max === undefined ? 50_000 : Number(v.max);
  if (!(Number.isInteger(max) && max > 0)) {
    io.stderr.write('findings timeline: --max must be a positive integer\n');
    return 2;
  }
  const { readFindings } = await import('../consumer/read.ts');
  const { buildTimeline, renderMarkdown } = await import('../findings/timeline.ts');
  const nc = await connectNats(natsOptionsFromFlags(v, io.env ?? process.env));
  try {
    const read = await readFindings({
      connection: nc,
      since,
      until,
      max,
      ...(v.namespace ? { namespaces: v.namespace } : {}),
      ...(v.type ? { incidentTypes: v.type } : {}),
      onInvalid: (subject, err) => io.stderr.write(`findings timeline: skipped a message on ${subject}: ${err.message}\n`),
    });
    const workloads = v.workload ? new Set(v.workload) : null;
    const findings = read.envelopes.map((e) => e.data).filter((f) => !workloads || workloads.has(f.resource_scope.workload ?? ''));
    const t = buildTimeline(findings, { from: since, to: until });
    io.stdout.write(output === 'json' ? `${JSON.stringify(t, null, 2)}\n` : renderMarkdown(t));
    if (read.truncated) io.stderr.write(`findings timeline: stopped at --max ${max}; the range holds more findings\n`);
  } finally {
    await nc.close();
  }
  return 0;
}
