/**
 * Hot reload of the rules: on SIGHUP or a change of the mounted files (a ConfigMap update is an
 * atomic symlink swap in the mount directory, so directories are watched, not files), re-read the
 * config, load and compile every rule, and only then replace the running set. Any error keeps the
 * old rules running and is logged with file, rule and field. Parts of the config that cannot change
 * while running are compared too: a change there is reported as "needs restart", never silently
 * ignored.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Config } from './config.ts';
import type { RulesReplaced } from './detect/engine.ts';
import type { Detection } from './pipeline.ts';
import { loadRules } from './detect/rulesets.ts';
import type { Logger } from './logger.ts';
import { metrics } from './metrics.ts';

export type ReloadOutcome = 'applied' | 'unchanged' | 'failed' | 'needs_restart';

export interface ReloadResult {
  outcome: ReloadOutcome;
  /** Set when rules were replaced. */
  rules?: RulesReplaced;
  /** Top-level config sections that changed but only take effect after a restart. */
  needsRestart?: string[];
  error?: string;
  hash: string;
}

export interface ReloaderOptions {
  engine: Detection;
  /** The config in force; its `pipelines` section says where the rules are. */
  config: Config;
  /** Re-reads the config file (throws ConfigError on a bad file). */
  readConfig: () => Config;
  /** The config file, watched with the rule files. */
  configFile?: string;
  log: Logger;
  /** Debounce of file events: a ConfigMap swap is several events (default 1 s). */
  debounceMs?: number;
}

/** Every config section that only takes effect at start (ports, sinks' endpoints, sources). */
const RESTART_SECTIONS = ['cluster', 'kubernetes', 'loki', 'nats', 'state', 'detect', 'server', 'findings', 'log'] as const;

/** The TypeScript pipeline files the config names (files, then each directory's in name order). */
export async function pipelineFilesOf(cfg: Config): Promise<string[]> {
  const files = [...cfg.pipelines.files];
  for (const dir of cfg.pipelines.dirs) {
    // Kubernetes mounts ConfigMap keys beside hidden ..data/..timestamp entries: skip dot files.
    const names = (await readdir(dir)).filter((n) => !n.startsWith('.') && /\.(ts|mts|js|mjs)$/.test(n) && !n.endsWith('.d.ts')).sort();
    files.push(...names.map((n) => resolve(dir, n)));
  }
  return files;
}

/** Hash of everything a reload reads: the config's rule sources and the bytes of each rule file. */
async function contentHash(cfg: Config, pipelineFiles: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify(cfg.pipelines));
  for (const f of [...pipelineFiles, ...cfg.pipelines.rules]) {
    h.update(`\u0000${f}\u0000`);
    h.update(await readFile(f).catch(() => Buffer.from('(unreadable)')));
  }
  return h.digest('hex');
}

const sectionsOf = (cfg: Config) => Object.fromEntries(RESTART_SECTIONS.map((k) => [k, JSON.stringify((cfg as unknown as Record<string, unknown>)[k])]));

export class RuleReloader {
  private readonly opts: ReloaderOptions;
  private config: Config;
  private hash = '';
  private readonly startSections: Record<string, string>;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReloadResult> | null = null;
  private again = false;
  private readonly onHup = () => void this.reload('SIGHUP');

  constructor(opts: ReloaderOptions) {
    this.opts = opts;
    this.config = opts.config;
    this.startSections = sectionsOf(opts.config);
  }

  /** Records the hash of what is running now, listens for SIGHUP and watches the rule directories. */
  async start(): Promise<void> {
    this.hash = await contentHash(this.config, await pipelineFilesOf(this.config));
    this.setHash(this.hash);
    process.on('SIGHUP', this.onHup);
    // Per directory, the names a change of which matters: the rule and config files themselves, any
    // pipeline in a pipelines directory, and the `..data` symlink a ConfigMap update swaps. Other files
    // beside them (a log next to a rules file) do not trigger reloads.
    const wanted = new Map<string, ((name: string) => boolean)[]>();
    const want = (dir: string, test: (name: string) => boolean) => wanted.set(dir, [...(wanted.get(dir) ?? []), test]);
    for (const d of this.config.pipelines.dirs) want(d, (n) => /\.(ts|mts|js|mjs)$/.test(n));
    for (const f of [...this.config.pipelines.files, ...this.config.pipelines.rules, ...(this.opts.configFile ? [this.opts.configFile] : [])]) want(dirname(f), (n) => n === basename(f));
    for (const [dir, tests] of wanted) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || name.startsWith('..') || tests.some((t) => t(name))) this.schedule();
        });
        w.on('error', (err) => this.opts.log.warn({ dir, err: err.message }, 'rule directory watch failed; reload with SIGHUP'));
        this.watchers.push(w);
      } catch (err) {
        this.opts.log.warn({ dir, err: (err as Error).message }, 'cannot watch rule directory; reload with SIGHUP');
      }
    }
  }

  stop(): void {
    process.off('SIGHUP', this.onHup);
    for (const w of this.watchers) w.close();
    this.watchers = [];
    clearTimeout(this.timer);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload('file change'), this.opts.debounceMs ?? 1000);
    this.timer.unref();
  }

  private setHash(hash: string): void {
    metrics.configHash.reset();
    metrics.configHash.set({ sha256: hash }, 1);
  }

  /** One reload at a time; a trigger during a reload runs one more afterwards. */
  reload(trigger: string): Promise<ReloadResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.doReload(trigger).finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.reload('change during reload');
      }
    });
    return this.running;
  }

  private async doReload(trigger: string): Promise<ReloadResult> {
    const { log, engine } = this.opts;
    let result: ReloadResult;
    try {
      const cfg = this.opts.readConfig();
      const files = await pipelineFilesOf(cfg);
      const hash = await contentHash(cfg, files);
      const now = sectionsOf(cfg);
      const needsRestart = RESTART_SECTIONS.filter((k) => now[k] !== this.startSections[k]);
      if (hash === this.hash) {
        result = needsRestart.length ? { outcome: 'needs_restart', needsRestart, hash } : { outcome: 'unchanged', hash };
      } else {
        // loadPipelineFile imports by content hash: a changed pipeline file is evaluated again.
        const rules = await loadRules({ defaults: cfg.pipelines.defaults, pipelines: files, rules: cfg.pipelines.rules });
        const replaced = engine.replaceRules(rules);
        this.hash = hash;
        this.config = cfg;
        this.setHash(hash);
        result = { outcome: needsRestart.length ? 'needs_restart' : 'applied', rules: replaced, hash, ...(needsRestart.length ? { needsRestart } : {}) };
      }
    } catch (err) {
      result = { outcome: 'failed', error: (err as Error).message, hash: this.hash };
    }
    metrics.configReloads.inc({ outcome: result.outcome });
    if (result.outcome !== 'failed') metrics.configLastReload.set(Date.now() / 1000);
    if (result.outcome === 'failed') log.error({ trigger, err: result.error }, 'reload failed: the previous rules keep running');
    else if (result.rules) {
      const r = result.rules;
      log.info({ trigger, kept: r.kept.length, changed: r.changed, added: r.added, removed: r.removed, hash: result.hash.slice(0, 12) }, `rules reloaded: ${r.kept.length} kept with their state, ${r.changed.length} changed and started fresh, ${r.added.length} added, ${r.removed.length} removed`);
    } else log.info({ trigger }, 'reload: rules unchanged');
    if (result.needsRestart) log.warn({ sections: result.needsRestart }, `configuration changed in ${result.needsRestart.join(', ')}: these take effect only after a restart`);
    return result;
  }
}
