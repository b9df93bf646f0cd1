/**
 * robot-sre-detector as the peers benchmark runs it: a file replayed through the
 * default pipeline (parse → template mining → every default rule → findings lifecycle) with every
 * line pushed to Loki by the production LokiSink. There is no `replay --loki` flag, so this composes
 * the same parts `run` and `replay` use.
 *   node bench/peers/rsd-runner.ts --loki URL --file FILE [--cluster NAME] [--memory-queue-mib N] [--stay]
 *   node bench/peers/rsd-runner.ts --loki URL --pods-root DIR --kubeconfig FILE [--memory-queue-mib N]
 * Prints one JSON line (lines, findings, templates, sink drops) once the sink is closed; with --stay it
 * then idles until SIGTERM, so the harness can read its CPU and peak RSS from /proc like a peer's.
 * With --pods-root it is the DaemonSet's Kubernetes files profile instead (`kubernetesFiles:`): the
 * kubelet's pod log files under DIR (CRI), labelled from a node-scoped pods informer on the API of
 * FILE, followed until SIGTERM (nothing to print: the harness counts the store).
 * RSD_MEMLOG=1 prints `MEM rss … heap used/total … ext … ab … q …` (MiB) to stderr every 500 ms: where a
 * peak RSS comes from (heap, ArrayBuffers, the sink's memory queue).
 */
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { lastValueFrom, tap, count } from 'rxjs';
import { loadRules } from '../../src/detect/rulesets.ts';
import { createTemplateAssigner } from '../../src/detect/templates.ts';
import { findings$, detectionEngine } from '../../src/pipeline.ts';
import { LokiSink } from '../../src/sinks/loki/index.ts';
import { ReplaySource } from '../../src/sources/replay.ts';
import { registry } from '../../src/metrics.ts';
import { PAUSE_ABOVE, RESUME_BELOW } from '../../src/delivery/pressure.ts';

const { values } = parseArgs({
  options: {
    loki: { type: 'string' },
    file: { type: 'string' },
    cluster: { type: 'string', default: 'bench' },
    stay: { type: 'boolean', default: false },
    'memory-queue-mib': { type: 'string' },
    'pods-root': { type: 'string' },
    kubeconfig: { type: 'string' },
  },
});
if (!values.loki || (!values.file && !(values['pods-root'] && values.kubeconfig))) {
  process.stderr.write('usage: rsd-runner.ts --loki URL (--file FILE | --pods-root DIR --kubeconfig FILE) [--cluster NAME] [--stay]\n');
  process.exit(2);
}

// The peers push as fast as Loki takes it; Loki runs with raised limits in the benchmark, so the
// client-side buckets (which mirror Loki's default limits) are raised to match. Everything else is
// the sink's default (1 MiB batches, 1 s wait, protobuf+snappy, 64 MiB memory queue).
const BIG = 1024 * 1024 * 1024;
// --memory-queue-mib is the `loki.memoryQueueBytes` setting of `run`: the bound of what waits for Loki.
const queueMiB = values['memory-queue-mib'] ? Number(values['memory-queue-mib']) : undefined;
const sink = new LokiSink({
  url: values.loki,
  tenantRateBytes: BIG,
  tenantBurstBytes: BIG,
  streamRateBytes: BIG,
  streamBurstBytes: BIG,
  ...(queueMiB ? { memoryQueueBytes: queueMiB * 1024 * 1024 } : {}),
});

/**
 * The kube source stops reading above 0.9 sink pressure and resumes under 0.7; replay has no such
 * hook, so the same rule is applied to the file stream. Without it a file read at disk speed would
 * overflow the bounded queue and lose lines.
 */
class PressureGate extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (sink.pressure.fill <= PAUSE_ABOVE) {
      done(null, chunk);
      return;
    }
    void (async () => {
      while (sink.pressure.fill > RESUME_BELOW) await sleep(20);
      done(null, chunk);
    })();
  }
}

const rules = await loadRules({ defaults: true, pipelines: [], rules: [] });
const templates = await createTemplateAssigner();
const engine = detectionEngine({ rules, assignTemplate: templates.assign });

if (process.env.RSD_MEMLOG) {
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(`MEM rss ${(m.rss / 1048576).toFixed(0)} heap ${(m.heapUsed / 1048576).toFixed(0)}/${(m.heapTotal / 1048576).toFixed(0)} ext ${(m.external / 1048576).toFixed(0)} ab ${(m.arrayBuffers / 1048576).toFixed(0)} q ${(sink.queued().memoryBytes / 1048576).toFixed(1)}\n`);
  }, 500).unref();
}
if (values['pods-root']) {
  // The files profile as `run` builds it for `kubernetesFiles:` (node-local, pods informer, positions),
  // live: findings$ never completes; SIGTERM from the harness ends the process.
  const { createKubeFilesSources } = await import('../../src/sources/kube-files/index.ts');
  const { MemoryStore } = await import('../../src/state/memory-store.ts');
  const kube = createKubeFilesSources({
    kube: { kubeconfigPath: values.kubeconfig!, cluster: values.cluster, nodeName: 'node-a', stateStore: new MemoryStore(), lookbackSeconds: 3300, maxResumeAgeSeconds: 3300, podStatus: false, pressure: sink.pressure },
    files: { root: values['pods-root'] },
  });
  findings$({ sources: [kube.pods], engine, logSink: sink, live: true }).subscribe();
  await kube.pods.start();
  const keep = setInterval(() => undefined, 60_000);
  process.once('SIGTERM', () => {
    clearInterval(keep);
    process.exit(0);
  });
} else {
  const input = createReadStream(values.file!, { highWaterMark: 256 * 1024 }).pipe(new PressureGate());
  const source = new ReplaySource({ files: ['-'], stdin: input, cluster: values.cluster });

  const started = performance.now();
  let observed = 0;
  const findings = await lastValueFrom(
    findings$({ sources: [source], engine, logSink: sink }).pipe(
      tap((f) => {
        if (f.status === 'observed') observed++;
      }),
      count(),
    ),
  );
  const processedSeconds = (performance.now() - started) / 1000;
  await sink.close(600_000);
  engine.close();
  const sentSeconds = (performance.now() - started) / 1000;

  const metric = async (name: string): Promise<number> => {
    const m = (await registry.getSingleMetric(name)?.get())?.values ?? [];
    return m.reduce((n, v) => n + v.value, 0);
  };
  process.stdout.write(
    `${JSON.stringify({
      tool: 'robot-sre-detector',
      lines: source.stats.lines,
      findings,
      findings_observed: observed,
      templates: templates.clusters(),
      rules: rules.length,
      processed_seconds: +processedSeconds.toFixed(3),
      sent_seconds: +sentSeconds.toFixed(3),
      sink_dropped: await metric('rsd_dropped_total'),
    })}\n`,
  );

  if (values.stay) {
    // Idle until the harness has read /proc and sends SIGTERM.
    const keep = setInterval(() => undefined, 60_000);
    process.once('SIGTERM', () => {
      clearInterval(keep);
      process.exit(0);
    });
  }
}
