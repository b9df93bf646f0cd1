import { parseCommand } from './args.ts';
import type { Subscription } from 'rxjs';
import { readFileSync } from 'node:fs';
import { loadConfig, readConfig, type Config } from '../config.ts';
import type { Rule } from '../detect/types.ts';
import { log } from '../logger.ts';
import { loadRules } from '../detect/rulesets.ts';
import { createTemplateAssigner, type TemplateAssigner } from '../detect/templates.ts';
import { findings$, detectionEngine } from '../pipeline.ts';
import { pipelineFilesOf, RuleReloader } from '../reload.ts';
import { startServer, type HealthProbe, type Routes } from '../server.ts';
import type { Source } from '../sources/types.ts';
import type { FindingSink, LogSink } from '../sinks/types.ts';
import { StdoutFindingSink } from '../sinks/stdout.ts';
import { MemoryStore } from '../state/memory-store.ts';
import { NO_PRESSURE } from '../delivery/pressure.ts';
import { FileStore } from '../state/file-store.ts';
import { stateKey, type StateStore } from '../state/store.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { buildComponents, type BuiltComponent } from '../components/configure.ts';
import type { Service } from '../components/component.ts';

export const help = `Usage: robot-sre-detector run [options]

Run the detector: tail pod logs and Kubernetes events through the API (or the node's /var/log/pods:
kubernetesFiles), files and journald as configured, push every line to Loki, run the detection
pipelines, and publish findings to NATS JetStream (and Alertmanager when configured).

Options:
  -c, --config FILE   configuration file, YAML or JSON (default: $CONFIG_FILE; see docs/configuration.md)
  --check             validate the configuration, rules and pipelines and build every component without
                      starting anything; report every problem (file, field, reason), exit 2 if any
  -h, --help          show this help

Environment overrides: RSD_CLUSTER, LOKI_URL, LOKI_TENANT, NATS_URL, NATS_CREDS, NODE_NAME,
SHARD_COUNT, RSD_NAMESPACES, RSD_PORT, LOG_LEVEL, CONFIG_FILE.
Serves /healthz, /readyz and /metrics on server.port (default 8080).
`;

async function openStateStore(cfg: Config, nc: NatsConnection | null): Promise<StateStore> {
  const kind = cfg.state.store === 'auto' ? (nc ? 'jetstream-kv' : 'file') : cfg.state.store;
  if (kind === 'jetstream-kv' && nc) {
    const { JetStreamKvStore } = await import('../state/kv-store.ts');
    return JetStreamKvStore.open(nc, { create: true, closeConnection: true, ...(cfg.state.bucket ? { bucket: cfg.state.bucket } : {}) });
  }
  if (kind === 'file') {
    try {
      const store = new FileStore(cfg.state.dir);
      await store.put('probe', new Uint8Array([1]));
      await store.delete('probe');
      return store;
    } catch (err) {
      log.warn({ dir: cfg.state.dir, err: (err as Error).message }, 'state dir not writable; cursors and miner state will not survive a restart');
    }
  }
  return new MemoryStore();
}

/**
 * `run --check`: everything a start would trip over, all at once: every config mistake (file, field,
 * reason), rules and pipelines that do not load, and every component that does not build (secrets,
 * files). Nothing is started or left open. Exit 2 when anything is wrong.
 */
async function check(file: string | undefined): Promise<number> {
  const name = file ?? '(defaults)';
  const problems: string[] = [];
  let text: string | null = null;
  if (file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      process.stderr.write(`robot-sre-detector: ${file}: field (file): cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 2;
    }
  }
  const { config: cfg, errors } = readConfig(text, name);
  problems.push(...errors.map((e) => e.message));
  let rules: Rule[] = [];
  try {
    rules = await loadRules({ defaults: cfg.pipelines.defaults, pipelines: await pipelineFilesOf(cfg), rules: cfg.pipelines.rules });
    detectionEngine({ rules }).close();
  } catch (err) {
    problems.push(`${name}: field pipelines: ${(err as Error).message}`);
  }
  const { built, errors: buildErrors } = await buildComponents(cfg.components, { cluster: cfg.cluster, store: new MemoryStore(), pressure: NO_PRESSURE, file: name, checkOnly: true }, log);
  problems.push(...buildErrors.map((e) => `${name}: ${e.key}: ${e.error.message}`));
  for (const p of problems) process.stderr.write(`robot-sre-detector: ${p}\n`);
  if (problems.length) {
    process.stderr.write(`robot-sre-detector: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${name}\n`);
    return 2;
  }
  const names = built.map((b) => b.key).join(',') || 'none';
  process.stdout.write(`config ok: cluster=${cfg.cluster}, ${rules.length} rules, loki=${cfg.loki?.url ?? 'off'}, nats=${cfg.nats ? 'on' : 'off'}, kubernetes=${cfg.kubernetes ? cfg.kubernetes.mode : 'off'}, components=${names}\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('run', argv, { config: { type: 'string', short: 'c' }, check: { type: 'boolean' } }, help, process);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.check) return check(values.config ?? process.env.CONFIG_FILE);
  const cfg = loadConfig(values.config ?? process.env.CONFIG_FILE);
  log.level = cfg.log.level;
  const rules = await loadRules({ defaults: cfg.pipelines.defaults, pipelines: await pipelineFilesOf(cfg), rules: cfg.pipelines.rules });

  // Signals are handled from the start: a SIGTERM during start-up ends in the same orderly shutdown.
  const stopRequested = new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stop requested');
      resolveStop();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

  // Liveness from the first second; readiness says "starting" until sources and sinks exist.
  const readiness: HealthProbe[] = [() => 'starting'];
  // Routes are filled in once the engine exists (tap needs it).
  const routes: Routes = {};
  const server = await startServer({ host: cfg.server.host, port: cfg.server.port, readiness, routes });

  // NATS first: the connection carries findings and, when present, the shared state store, so it is
  // opened before any component is built (the `nats` component's sink gets it through BuildContext.nats).
  let nc: NatsConnection | null = null;
  let connection: Promise<NatsConnection> | undefined;
  let stateNc: NatsConnection | null = null;
  const findingSinks: FindingSink[] = [];
  if (cfg.nats) {
    const { openNatsConnection } = await import('../nats/component.ts');
    connection = openNatsConnection(cfg.nats, cfg.cluster);
    connection.catch(() => undefined); // the findings sink reports a failed connect; start-up does not wait for it
    // The state store and stream provisioning need a live connection; findings do not wait for it.
    if ((cfg.state.store !== 'file' && cfg.state.store !== 'memory') || cfg.nats.provisionStreams) {
      nc = await Promise.race([connection.catch(() => null), new Promise<null>((r) => setTimeout(() => r(null), 5_000).unref())]);
      if (!nc) log.warn('NATS not reachable within 5s: using a local state store until restart, streams not provisioned');
    }
    if (nc && cfg.nats.provisionStreams) {
      // Idempotent: creates what is missing, never deletes or shrinks (streams apply does the same).
      const { applyLayout } = await import('../nats/streams.ts');
      try {
        const results = await applyLayout(nc, {});
        log.info({ streams: results.map((r) => `${r.name}:${r.action}`) }, 'JetStream layout applied');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'JetStream layout not applied (run "streams apply" with an account allowed to)');
      }
    }
    stateNc = cfg.state.store === 'file' || cfg.state.store === 'memory' ? null : nc;
  }
  // Without NATS, findings go to stdout (as with findings.stdout).
  if (cfg.findings.stdout || !cfg.nats) findingSinks.push(new StdoutFindingSink('ndjson'));
  const store = await openStateStore(cfg, stateNc);

  let templates: TemplateAssigner | undefined;
  if (cfg.detect.templates) {
    templates = await createTemplateAssigner({ store, scope: cfg.cluster, minerOptions: { maxClusters: cfg.detect.miner.maxClusters, extraMasks: cfg.detect.miner.extraMasks } });
  }
  const engine = detectionEngine({
    rules,
    allowedLatenessMs: cfg.detect.allowedLateness,
    maxKeysPerRule: cfg.detect.maxKeysPerRule,
    stateTtlMs: cfg.detect.stateTtl,
    ...(templates ? { assignTemplate: templates.assign } : {}),
    lifecycle: { source: `robot-sre-detector/${cfg.cluster}` },
  });
  // Rules reload on SIGHUP and on changes of the mounted files, keeping the state of unchanged rules.
  const configFile = values.config ?? process.env.CONFIG_FILE;
  const reloader = cfg.pipelines.watch ? new RuleReloader({ engine, config: cfg, readConfig: () => loadConfig(configFile), ...(configFile ? { configFile } : {}), log }) : null;
  await reloader?.start();
  let tap: { close(): void } | undefined;
  if (cfg.server.tap.enabled) {
    const { TapHub } = await import('../tap.ts');
    const hub = new TapHub(engine, log, { maxClients: cfg.server.tap.maxClients, maxRate: cfg.server.tap.maxRate });
    routes['/tap'] = (req, res) => hub.handle(req, res);
    tap = hub;
  }
  const engineKey = stateKey('engine', cfg.cluster);
  const saved = await store.get(engineKey);
  if (saved) engine.restore(JSON.parse(new TextDecoder().decode(saved)) as Record<string, unknown>);
  // Open episodes and suppression survive restarts and hand-overs: restored before the first record.
  const { LifecycleSaver } = await import('../state/lifecycle-saver.ts');
  const shards = cfg.kubernetes?.shardCount;
  const shard = shards !== undefined && shards > 1 ? String(cfg.kubernetes?.shardIndex ?? 0) : 'all';
  const lifecycleSaver = new LifecycleSaver({ engine, store, key: stateKey('lifecycle', cfg.cluster, shard), log });
  const restored = await lifecycleSaver.restore();
  if (restored) log.info({ episodes: restored }, 'open episodes restored from the state store');

  // Components (src/components/registry.ts): the log sink first, since its queue fill is the
  // pressure every source reads; then sources, findings sinks and servers in registry order.
  const file = configFile ?? '(defaults)';
  const base = { cluster: cfg.cluster, store, file, checkOnly: false, ...(connection ? { nats: connection } : {}) };
  const sinkParts = await buildComponents(cfg.components.filter((c) => c.spec.kind === 'log-sink'), { ...base, pressure: NO_PRESSURE }, log);
  const logSink: LogSink | undefined = sinkParts.built.find((b) => b.built.logSink)?.built.logSink;
  if (!logSink) log.warn('loki.url not set: lines are analysed but not stored');
  const components: BuiltComponent[] = (
    await buildComponents(cfg.components.filter((c) => c.spec.kind !== 'log-sink'), { ...base, pressure: logSink?.pressure ?? NO_PRESSURE }, log)
  ).built;
  const sources: Source[] = [];
  const services: Service[] = [];
  for (const { built } of components) {
    sources.push(...(built.sources ?? []));
    findingSinks.push(...(built.findingSinks ?? []));
    services.push(...(built.services ?? []));
  }
  if (sources.length === 0) log.warn('no sources enabled (kubernetes is off and no file, journald or services source is configured)');

  // Sources and sinks exist now: readiness is theirs to report.
  readiness.length = 0;
  readiness.push(
    ...sources.map((s) => () => s.unready()),
    ...services.map((s) => () => s.unready()),
    () => {
      const errs = engine.customErrors();
      return errs.length ? `custom rule stopped: ${errs.map((e) => `${e.rule}: ${e.error}`).join('; ')}` : null;
    },
  );
  log.info({ cluster: cfg.cluster, rules: rules.length, port: cfg.server.port, state: store.kind, loki: !!logSink, nats: !!cfg.nats }, 'robot-sre-detector started');

  const sub: Subscription = findings$({ sources, engine, ...(logSink ? { logSink } : {}), live: true }).subscribe({
    next: (f) => {
      for (const s of findingSinks) s.publish(f);
    },
    error: (err: unknown) => log.error({ err }, 'pipeline failed'),
  });
  for (const s of sources) await s.start();
  for (const s of services) await s.start();
  lifecycleSaver.start();

  const saveState = async () => {
    await lifecycleSaver.saveIfChanged();
    try {
      await store.put(engineKey, new TextEncoder().encode(JSON.stringify(engine.snapshot())));
      if (templates) {
        const { saveMiner } = await import('../detect/miner/persist.ts');
        await saveMiner(store, cfg.cluster, templates.miner);
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'saving detector state failed');
    }
  };
  const saver = setInterval(() => void saveState(), 60_000);
  saver.unref();

  await stopRequested;
  log.info('shutting down: flushing sinks');
  clearInterval(saver);
  await lifecycleSaver.stop();
  reloader?.stop();
  tap?.close();
  const deadline = 20_000;
  await Promise.allSettled([...services.map((s) => s.stop()), ...sources.map((s) => s.stop())]);
  sub.unsubscribe();
  await Promise.allSettled([logSink?.close(deadline), ...findingSinks.map((s) => s.close(deadline))]);
  // The sinks' last deliveries acknowledged records after the sources stopped: persist those cursors too.
  await Promise.allSettled(sources.map((s) => s.flushState?.()));
  await saveState();
  engine.close();
  await store.close();
  // Whoever else held it, the NATS connection ends here (sinks are closed; the store may have closed it).
  if (connection) {
    const c = await Promise.race([connection.catch(() => null), new Promise<null>((r) => setTimeout(() => r(null), 1000).unref())]);
    if (c && !c.isClosed()) await c.close().catch(() => undefined);
  }
  server.close();
  // A client still retrying a first connect keeps timers alive: shutdown is complete, so do not wait for it.
  setTimeout(() => {
    log.warn('exiting with handles still open (e.g. a NATS connection that never came up)');
    process.exit(0);
  }, 3000).unref();
  return 0;
}
