import { parseCommand } from './args.ts';

export const help = `Usage: robot-sre-detector tap [options]

Watch, live, the records that reach a running detector's rules after parsing (level, labels, the
template when one was mined, the line redacted) and, with --signals, what each rule made of them:
a match that signalled, stayed below its threshold, was excluded, or was grouped under a
higher-priority rule, and whether the signal opened a finding or was suppressed.

The detector serves this on its admin port (server.port) when server.tap.enabled is true, to
loopback clients only: run it in the pod, or through kubectl port-forward. A tap never slows the
pipeline: it is sampled and rate-limited, and a client that stops reading is disconnected.

Options:
  --url URL           the detector's admin address (default http://127.0.0.1:8080)
  --selector LABELS   namespace=shop,app=api (labels: namespace, pod, container, workload, app,
                      component, node, service); all must match
  --rule ID           only matches and signals of this rule
  --signals           also print rule matches and signals
  --sample P          send this fraction of records, 0..1 (default 1)
  --rate N            messages per second at most (default and cap: server.tap.maxRate)
  --output text|ndjson  default text
  -h, --help          show this help
`;

type Msg = Record<string, unknown> & { type: string };

function text(m: Msg): string {
  const labels = (l: unknown) =>
    Object.entries((l ?? {}) as Record<string, string>)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  switch (m.type) {
    case 'record':
      return `${m.ts} ${String(m.level).padEnd(7)} {${labels(m.labels)}} ${m.line}${m.template ? `\n    template: ${m.template}` : ''}`;
    case 'match':
      return `${m.ts}   ↳ ${m.rule}: ${m.verdict}`;
    case 'signal':
      return `${m.ts}   ⇒ signal ${m.rule} (${m.incident_type}, ${m.severity}) ×${m.count}: ${m.outcome}`;
    case 'dropped':
      return `… ${m.count} messages dropped (${m.reason})`;
    case 'hello':
      return `tapping ${labels(m.selector) || 'all records'}${m.rule ? `, rule ${m.rule}` : ''}${m.signals ? ', with signals' : ''}`;
    default:
      return JSON.stringify(m);
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'tap',
    argv,
    {
      url: { type: 'string' },
      selector: { type: 'string' },
      rule: { type: 'string' },
      signals: { type: 'boolean' },
      sample: { type: 'string' },
      rate: { type: 'string' },
      output: { type: 'string' },
    },
    help,
    process,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const output = v.output ?? 'text';
  if (output !== 'text' && output !== 'ndjson') throw new Error(`--output must be text or ndjson, not "${output}"`);
  const url = new URL('/tap', v.url ?? 'http://127.0.0.1:8080');
  if (v.selector) url.searchParams.set('selector', v.selector);
  if (v.rule) url.searchParams.set('rule', v.rule);
  if (v.signals) url.searchParams.set('signals', '1');
  if (v.sample) url.searchParams.set('sample', v.sample);
  if (v.rate) url.searchParams.set('rate', v.rate);
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  let res: Response;
  try {
    res = await fetch(url, { signal: ac.signal });
  } catch (err) {
    process.stderr.write(`tap: cannot reach ${url.origin}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}\n`);
    return 1;
  }
  if (!res.ok || !res.body) {
    process.stderr.write(`tap: ${res.status} ${(await res.text()).trim()}${res.status === 404 ? ' (is server.tap.enabled set?)' : ''}\n`);
    return 1;
  }
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line) continue;
        process.stdout.write(output === 'ndjson' ? `${line}\n` : `${text(JSON.parse(line) as Msg)}\n`);
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) {
      process.stderr.write(`tap: stream ended: ${(err as Error).message}\n`);
      return 1;
    }
  }
  return 0;
}
