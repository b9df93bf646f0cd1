import { parseCommand } from './args.ts';
import { lastValueFrom, tap, toArray } from 'rxjs';
import type { Finding } from '../model/finding.ts';
import { loadRules } from '../detect/rulesets.ts';
import { findings$, detectionEngine } from '../pipeline.ts';
import { ReplaySource } from '../sources/replay.ts';
import { StdoutFindingSink } from '../sinks/stdout.ts';
import { createTemplateAssigner } from '../detect/templates.ts';

export const help = `Usage: robot-sre-detector replay [options] [FILE|-]...

Replay log lines through the detection pipeline with no cluster, and print the findings.
Input: plain text lines (a leading RFC3339 timestamp or CRI "<ts> stdout F <msg>" is used as event
time), or NDJSON records:
  {"ts":"<RFC3339>","line":"...","labels":{"namespace":"..","pod":"..","container":".."}}
  {"kind":"event","ts":"..","type":"Warning","reason":"BackOff","message":"..",
   "involvedObject":{"kind":"Pod","namespace":"..","name":".."}}
Detection runs on the records' own timestamps, so a day of logs replays in seconds and gives the
same findings every run.

Options:
  --output ndjson|table   ndjson: one finding per line (default when stdout is not a TTY);
                          table: one readable line per finding plus a summary (default on a TTY)
  --pipeline FILE.ts      add a TypeScript rule set (repeatable)
  --rules FILE            add an operator rules file, YAML or JSON (repeatable)
  --no-default-rules      do not load pipelines/default.ts
  --no-templates          skip template mining (summaries then name rules, not templates)
  --cluster NAME          cluster name for records without one (default "replay")
  --namespace NAME        namespace for plain-text lines (default "default")
  --start-time RFC3339    event time of plain lines that carry no timestamp
  -h, --help              show this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'replay',
    argv,
    {
      output: { type: 'string' },
      pipeline: { type: 'string', multiple: true },
      rules: { type: 'string', multiple: true },
      'no-default-rules': { type: 'boolean' },
      'no-templates': { type: 'boolean' },
      cluster: { type: 'string' },
      namespace: { type: 'string' },
      'start-time': { type: 'string' },
    },
    help,
    process,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const output = values.output ?? (process.stdout.isTTY ? 'table' : 'ndjson');
  if (output !== 'ndjson' && output !== 'table') throw new Error(`--output must be ndjson or table, not "${output}"`);
  const files = positionals.length ? positionals : ['-'];
  const rules = await loadRules({ defaults: !values['no-default-rules'], pipelines: values.pipeline ?? [], rules: values.rules ?? [] });
  const templates = values['no-templates'] ? undefined : await createTemplateAssigner();
  const engine = detectionEngine({ rules, ...(templates ? { assignTemplate: templates.assign } : {}) });
  const source = new ReplaySource({
    files,
    ...(values.cluster ? { cluster: values.cluster } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
    ...(values['start-time'] ? { startTime: values['start-time'] } : {}),
  });
  const sink = new StdoutFindingSink(output);
  const started = performance.now();
  const all: Finding[] = await lastValueFrom(findings$({ sources: [source], engine }).pipe(tap((f) => sink.publish(f)), toArray()));
  const secs = (performance.now() - started) / 1000;
  engine.close();
  const byType = new Map<string, number>();
  for (const f of all) if (f.status === 'observed') byType.set(f.incident_type, (byType.get(f.incident_type) ?? 0) + 1);
  const summary = {
    lines: source.stats.lines,
    events: source.stats.events,
    findings: all.length,
    observed_by_type: Object.fromEntries([...byType.entries()].sort()),
    lines_per_sec: Math.round(source.stats.lines / Math.max(secs, 1e-6)),
    seconds: Math.round(secs * 1000) / 1000,
    templates: templates?.clusters() ?? 0,
  };
  if (output === 'table') {
    process.stderr.write(`\n${summary.lines} lines (${summary.events} events) in ${summary.seconds}s (${summary.lines_per_sec} lines/s), ${summary.templates} templates mined, ${summary.findings} findings\n`);
    for (const [t, n] of byType) process.stderr.write(`  ${t.padEnd(32)} ${n}\n`);
  } else {
    process.stderr.write(`${JSON.stringify({ summary })}\n`);
  }
  return 0;
}
