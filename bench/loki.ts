/**
 * Loki sink benchmark.
 *   node bench/loki.ts [--lines N] [--no-push]
 * 1. Encode cost per MiB of log lines: protobuf (hand-written) + snappy block vs JSON (always).
 * 2. Lines/s pushed through LokiSink to a real Loki-protocol store (VictoriaLogs' Loki push endpoint,
 *    test/env/victorialogs.ts) until every line is acknowledged (built by test/env/build.sh victorialogs).
 *    Figures before 2026-12 were measured against Loki v3.7.8 (no longer buildable here: AGPL).
 * Each figure is the median of 3 runs. The last line printed is one JSON object.
 */
import { performance } from 'node:perf_hooks';
import snappy from 'snappyjs';
import type { LogRecord } from '../src/model/log-record.ts';
import { encodeJsonBody } from '../src/sinks/loki/encode-json.ts';
import { encodePushRequest, snappyBlock } from '../src/sinks/loki/encode-protobuf.ts';
import { toEntry, type Entry } from '../src/sinks/loki/entry.ts';
import { groupByStream } from '../src/sinks/loki/group.ts';
import { LabelBuilder } from '../src/sinks/loki/labels.ts';
import { LokiSink } from '../src/sinks/loki/sink.ts';
import { SourceAcks } from '../src/delivery/acks.ts';

const args = process.argv.slice(2);
const argNum = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const pushLines = argNum('--lines', 100_000);
const noPush = args.includes('--no-push');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

function records(n: number, cluster: string, startMs = Date.now() - 300_000): LogRecord[] {
  const out: LogRecord[] = [];
  const paths = ['/api/v1/cart', '/api/v1/items', '/healthz', '/api/v1/checkout'];
  for (let i = 0; i < n; i++) {
    const ms = startMs + Math.floor(i / 10);
    const c = `c${i % 20}`;
    const iso = new Date(ms).toISOString();
    out.push({
      ts: `${iso.slice(0, 23)}${String((i * 7919) % 1_000_000).padStart(6, '0')}Z`,
      tsMs: ms,
      line: `ts=${iso} level=${i % 50 ? 'info' : 'error'} method=GET path=${paths[i % 4]}/${i % 977} status=${i % 50 ? 200 : 503} duration_ms=${(i * 37) % 900} user_agent="Mozilla/5.0" request_id=req-${i.toString(16)} msg="request handled"`,
      stream: 'stdout',
      kind: 'pod',
      level: i % 50 ? 'info' : 'error',
      target: { cluster, namespace: `ns${i % 4}`, pod: `${c}-5f7d8-abc${i % 3}`, container: c, node: 'node-1', app: c },
      fields: { request_id: `req-${i.toString(16)}` },
    });
  }
  return out;
}

function encodeBench(): Record<string, number> {
  const labels = new LabelBuilder(500);
  const recs = records(20_000, 'bench');
  const entries: Entry[] = recs.map((r) => toEntry(r, labels, 255_000));
  // Batches of ~1 MiB, as the sink sends them.
  const batches: Entry[][] = [];
  let cur: Entry[] = [];
  let bytes = 0;
  for (const e of entries) {
    cur.push(e);
    bytes += e.bytes;
    if (bytes >= 1024 * 1024) {
      batches.push(cur);
      cur = [];
      bytes = 0;
    }
  }
  if (cur.length) batches.push(cur);
  const lineMiB = entries.reduce((n, e) => n + Buffer.byteLength(e.line), 0) / 1048576;

  // Process CPU time (user + system), not wall time: the figure stays meaningful on a shared
  // 2-core machine where other work steals the wall clock.
  const cpuMs = (f: () => void): number => {
    const c = process.cpuUsage();
    f();
    const d = process.cpuUsage(c);
    return (d.user + d.system) / 1000;
  };
  const res: Record<string, number[]> = { protobuf: [], snappy: [], protobuf_snappy: [], json: [], entry: [] };
  const passes = 5;
  const grouped = batches.map((b) => groupByStream(b));
  const raws = grouped.map((g) => encodePushRequest(g));
  const rawBytes = raws.reduce((n, r) => n + r.length, 0);
  const snappyBytes = raws.reduce((n, r) => n + snappyBlock(r).length, 0);
  const jsonBytes = grouped.reduce((n, g) => n + encodeJsonBody(g).length, 0);
  for (let run = 0; run < 3; run++) {
    res.entry!.push(
      cpuMs(() => {
        const lb = new LabelBuilder(500);
        for (const r of recs) toEntry(r, lb, 255_000);
      }) / lineMiB,
    );
    // grouping is part of both encoders' cost, so it is inside both measurements
    const tp = cpuMs(() => {
      for (let p = 0; p < passes; p++) for (const b of batches) encodePushRequest(groupByStream(b));
    });
    const ts = cpuMs(() => {
      for (let p = 0; p < passes; p++) for (const r of raws) snappyBlock(r);
    });
    const tj = cpuMs(() => {
      for (let p = 0; p < passes; p++) for (const b of batches) encodeJsonBody(groupByStream(b));
    });
    res.protobuf!.push(tp / passes / lineMiB);
    res.snappy!.push(ts / passes / lineMiB);
    res.protobuf_snappy!.push((tp + ts) / passes / lineMiB);
    res.json!.push(tj / passes / lineMiB);
  }
  // Sanity: what we send must decode back to the same bytes.
  const check = encodePushRequest(groupByStream(batches[0]!));
  if (!Buffer.from(snappy.uncompress(snappyBlock(check))).equals(check)) throw new Error('snappy round trip failed');
  const out: Record<string, number> = {
    line_mib: round(lineMiB),
    batches: batches.length,
    protobuf_raw_bytes_per_line_byte: round(rawBytes / (lineMiB * 1048576), 3),
    entry_build_cpu_ms_per_mib: round(median(res.entry!)),
    protobuf_cpu_ms_per_mib: round(median(res.protobuf!)),
    snappy_cpu_ms_per_mib: round(median(res.snappy!)),
    protobuf_snappy_cpu_ms_per_mib: round(median(res.protobuf_snappy!)),
    json_cpu_ms_per_mib: round(median(res.json!)),
    protobuf_snappy_wire_bytes_per_line_byte: round(snappyBytes / (lineMiB * 1048576), 3),
    json_wire_bytes_per_line_byte: round(jsonBytes / (lineMiB * 1048576), 3),
  };
  process.stderr.write(`encode: ${JSON.stringify(out)}\n`);
  return out;
}

async function pushBench(): Promise<Record<string, unknown>> {
  if (noPush) return { skipped: '--no-push' };
  let env: typeof import('../test/env/victorialogs.ts');
  try {
    env = await import('../test/env/victorialogs.ts');
  } catch (err) {
    return { skipped: `test/env/victorialogs.ts unavailable: ${String(err)}` };
  }
  let loki: Awaited<ReturnType<typeof env.startVictoriaLogs>>;
  try {
    loki = await env.startVictoriaLogs();
  } catch (err) {
    return { skipped: `real store unavailable: ${String(err).slice(0, 300)}` };
  }
  try {
    const runs: Array<{ lines_per_sec: number; mib_per_sec: number; cpu_ms_per_mib: number }> = [];
    for (let run = 0; run < 3; run++) {
      const recs = records(pushLines, `bench-${run}-${Date.now()}`);
      const lineMiB = recs.reduce((n, r) => n + Buffer.byteLength(r.line), 0) / 1048576;
      const sink = new LokiSink({ url: loki.lokiUrl, tenantRateBytes: 1e10, tenantBurstBytes: 1e10, streamRateBytes: 1e10, streamBurstBytes: 1e10, memoryQueueBytes: 512 * 1024 * 1024 });
      let acked = 0;
      // A source's handle on every record, as sources put theirs.
      const source = new SourceAcks('bench', (rs) => {
        acked += rs.length;
      });
      for (const r of recs) r.ack = source;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < recs.length; i += 500) sink.write(recs.slice(i, i + 500));
      await sink.flush(300_000);
      const dt = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      await sink.close(5000);
      if (acked !== recs.length) throw new Error(`only ${acked}/${recs.length} lines acknowledged`);
      const r = { lines_per_sec: Math.round(recs.length / dt), mib_per_sec: round(lineMiB / dt), cpu_ms_per_mib: round((cpu.user + cpu.system) / 1000 / lineMiB) };
      process.stderr.write(`push run ${run + 1}: ${JSON.stringify(r)}\n`);
      runs.push(r);
    }
    return {
      lines: pushLines,
      lines_per_sec: median(runs.map((r) => r.lines_per_sec)),
      mib_per_sec: median(runs.map((r) => r.mib_per_sec)),
      sink_cpu_ms_per_mib: median(runs.map((r) => r.cpu_ms_per_mib)),
      runs,
    };
  } finally {
    await loki.stop();
  }
}

const encode = encodeBench();
const push = await pushBench();
console.log(JSON.stringify({ bench: 'loki', node: process.version, encode, push }));
