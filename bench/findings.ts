/**
 * Findings over JetStream, against a real nats-server this bench starts itself.
 *
 * 1. publish: findings/s through JetStreamFindingSink with PubAcks (every finding distinct, ~1.5 KB envelope).
 * 2. latency: a log line entering the live pipeline (parse → default rule set → lifecycle) →
 *    JetStreamFindingSink → OPS_FINDINGS → a durable consumer's handler. p50/p99 over
 *    LATENCY_LINES signature-rule lines, one every LATENCY_GAP_MS. Goal: p99 < 1 s.
 *
 * RUNS (default 3) runs each; the final JSON line reports medians and every run.
 *   npx node bench/findings.ts
 */
import { Subject } from 'rxjs';
import type { NatsConnection } from '@nats-io/transport-node';
import { subscribeFindings } from '../src/consumer/index.ts';
import { loadRules } from '../src/detect/rulesets.ts';
import type { Finding } from '../src/model/finding.ts';
import type { LogRecord } from '../src/model/log-record.ts';
import { connectNats } from '../src/nats/connection.ts';
import { encodeFinding } from '../src/nats/envelope.ts';
import { applyLayout } from '../src/nats/streams.ts';
import { findings$, detectionEngine } from '../src/pipeline.ts';
import { JetStreamFindingSink } from '../src/sinks/jetstream.ts';
import type { Source } from '../src/sources/types.ts';
import { startNats } from '../test/env/nats.ts';

const RUNS = Number(process.env.RUNS ?? 3);
const PUBLISH_N = Number(process.env.PUBLISH_N ?? 20_000);
const LATENCY_LINES = Number(process.env.LATENCY_LINES ?? 300);
const LATENCY_GAP_MS = Number(process.env.LATENCY_GAP_MS ?? 10);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Number.NaN;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function syntheticFinding(i: number, run: number): Finding {
  const ts = new Date().toISOString();
  return {
    schema_version: '1.0',
    finding_id: `bench-${run}-${i}`,
    source: 'robot-sre-detector',
    domain: 'runtime',
    incident_type: 'crashloop',
    severity: 'error',
    confidence: 0.9,
    summary: `1× \`panic: runtime error: index out of range [${i}]\` in shop/api`,
    evidence: {
      lines: [
        { ts, line: `panic: runtime error: index out of range [${i}] with length 3`, pod: `api-${i % 50}`, container: 'api' },
        { ts, line: 'goroutine 1 [running]: main.handler(0xc000010000) /app/main.go:42 +0x1d', pod: `api-${i % 50}`, container: 'api' },
      ],
      templates: [{ template: 'panic: runtime error: index out of range [<*>] with length <*>', count: 1 }],
      loki: { query: '{namespace="shop", container="api"} |= "panic"', start: ts, end: ts },
      details: { rate: 1, threshold: 1 },
    },
    resource_scope: { cluster: 'bench', namespace: 'shop', workload: 'api', workload_kind: 'Deployment', pod: `api-${i % 50}`, container: 'api' },
    dedupe_key: `dk-${i}`,
    observed_at: ts,
    rule: { id: 'panic-fatal', version: '1' },
    status: 'observed',
    first_seen: ts,
    last_seen: ts,
    count: 1,
    labels: { team: 'shop' },
  };
}

async function publishRun(nc: NatsConnection, run: number): Promise<{ findings_per_sec: number; envelope_bytes: number }> {
  const sink = new JetStreamFindingSink({ connection: nc, maxQueue: PUBLISH_N + 1 });
  const fs = Array.from({ length: PUBLISH_N }, (_, i) => syntheticFinding(i, run));
  const t0 = performance.now();
  for (const f of fs) sink.publish(f);
  await sink.flush(300_000);
  const dt = (performance.now() - t0) / 1000;
  if (sink.pending().memory !== 0) throw new Error(`publish run ${run}: ${sink.pending().memory} findings not acknowledged`);
  await sink.close(5_000);
  return { findings_per_sec: Math.round(PUBLISH_N / dt), envelope_bytes: encodeFinding(fs[0] as Finding).bytes };
}

class PushSource implements Source {
  readonly name = 'bench';
  private readonly subject = new Subject<LogRecord[]>();
  readonly records$ = this.subject.asObservable();
  push(r: LogRecord): void {
    this.subject.next([r]);
  }
  end(): void {
    this.subject.complete();
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  unready(): string | null {
    return null;
  }
}

async function latencyRun(nc: NatsConnection, run: number): Promise<{ p50_ms: number; p99_ms: number; max_ms: number; received: number }> {
  const rules = await loadRules({ defaults: true });
  const engine = detectionEngine({ rules });
  const source = new PushSource();
  const sink = new JetStreamFindingSink({ connection: nc });
  const injectedAt = new Map<string, number>();
  const latencies: number[] = [];
  const ns = `bench-${run}`;
  const sub = await subscribeFindings({
    connection: nc,
    durable: `bench-latency-${run}`,
    namespaces: [ns],
    deliverPolicy: 'new',
    handler: (f) => {
      const t0 = injectedAt.get(f.resource_scope.pod ?? '');
      if (t0 !== undefined && f.status === 'observed') {
        latencies.push(performance.now() - t0);
        injectedAt.delete(f.resource_scope.pod ?? '');
      }
    },
  });
  const subscription = findings$({ sources: [source], engine, live: true, tickMs: 200 }).subscribe((f) => sink.publish(f));
  for (let i = 0; i < LATENCY_LINES; i++) {
    const pod = `api-${run}-${i}`;
    const now = Date.now();
    const rec: LogRecord = {
      ts: new Date(now).toISOString(),
      tsMs: now,
      line: `panic: runtime error: invalid memory address or nil pointer dereference [req ${i}]`,
      stream: 'stderr',
      kind: 'pod',
      target: { cluster: 'bench', namespace: ns, pod, container: 'api', workload: `api-${i}`, workloadKind: 'Deployment' },
      level: 'unknown',
    };
    injectedAt.set(pod, performance.now());
    source.push(rec);
    await sleep(LATENCY_GAP_MS);
  }
  const until = Date.now() + 30_000;
  while (latencies.length < LATENCY_LINES && Date.now() < until) await sleep(20);
  subscription.unsubscribe();
  source.end();
  await sink.close(5_000);
  await sub.stop();
  engine.close();
  if (latencies.length < LATENCY_LINES) process.stderr.write(`latency run ${run}: only ${latencies.length}/${LATENCY_LINES} findings arrived\n`);
  return { p50_ms: round(pct(latencies, 50)), p99_ms: round(pct(latencies, 99)), max_ms: round(Math.max(...latencies)), received: latencies.length };
}

const server = await startNats();
try {
  const nc = await connectNats({ servers: server.url, name: 'bench' });
  await applyLayout(nc);
  const pubs = [];
  const lats = [];
  for (let run = 0; run < RUNS; run++) {
    const p = await publishRun(nc, run);
    process.stderr.write(`publish run ${run + 1}: ${JSON.stringify(p)}\n`);
    pubs.push(p);
    const l = await latencyRun(nc, run);
    process.stderr.write(`latency run ${run + 1}: ${JSON.stringify(l)}\n`);
    lats.push(l);
  }
  await nc.close();
  console.log(
    JSON.stringify({
      bench: 'findings',
      node: process.version,
      nats_server: '2.9.10 (local, file storage)',
      publish: { findings: PUBLISH_N, findings_per_sec: median(pubs.map((p) => p.findings_per_sec)), runs: pubs },
      latency_line_to_consumer: {
        lines: LATENCY_LINES,
        gap_ms: LATENCY_GAP_MS,
        p50_ms: median(lats.map((l) => l.p50_ms)),
        p99_ms: median(lats.map((l) => l.p99_ms)),
        goal_p99_ms: 1000,
        runs: lats,
      },
    }),
  );
} finally {
  await server.stop();
}
