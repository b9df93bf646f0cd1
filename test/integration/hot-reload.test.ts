/**
 * Hot reload as Kubernetes delivers it: the rules file lives in a directory laid out like a mounted
 * ConfigMap (`rules.yaml -> ..data/rules.yaml`, `..data -> ..<timestamp>`), and an update swaps the
 * `..data` symlink atomically. The real engine, the real reloader with its directory watch, real files.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { loadRules } from '../../src/detect/rulesets.ts';
import { createLogger } from '../../src/logger.ts';
import { RuleReloader } from '../../src/reload.ts';
import type { Finding } from '../../src/model/finding.ts';
import { rec } from '../helpers/records.ts';
import { freePort } from '../env/ports.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const M = 60_000;

function rule(name: string, match: string, incident: string, threshold = 1): string {
  return `  - name: ${name}
    source: logs
    match: { contains: ['${match}'] }
    threshold: { count: ${threshold}, window: 10m }
    severity: error
    incident_type: ${incident}
    domain: runtime
    recovery: 5m
`;
}

/** A directory laid out the way the kubelet mounts a ConfigMap, and its atomic update. */
async function configMapDir(files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'rsd-cm-'));
  let n = 0;
  const write = async (data: Record<string, string>) => {
    const ts = join(dir, `..2026_12_02_00_00_0${n++}.000`);
    await mkdir(ts);
    for (const [k, v] of Object.entries(data)) await writeFile(join(ts, k), v);
    await symlink(ts.slice(dir.length + 1), join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  await write(files);
  for (const k of Object.keys(files)) await symlink(join('..data', k), join(dir, k));
  return { dir, update: write, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function until<T>(f: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('hot reload of operator rules', () => {
  it('a ConfigMap update adds a rule without a restart, keeps open episodes, and a broken file keeps the old rules', async () => {
    const cm = await configMapDir({ 'rules.yaml': `rules:\n${rule('ldap-down', 'ldap timeout', 'ldap_unreachable', 2)}` });
    const cfgDir = await mkdtemp(join(tmpdir(), 'rsd-cfg-'));
    const configFile = join(cfgDir, 'config.yaml');
    await writeFile(configFile, `pipelines: { defaults: false, rules: [${join(cm.dir, 'rules.yaml')}] }\nkubernetes: { enabled: false }\n`);
    const cfg = loadConfig(configFile);
    const engine = detectionEngine({ rules: await loadRules({ defaults: false, rules: cfg.pipelines.rules }), allowedLatenessMs: 0 });
    const reloader = new RuleReloader({ engine, config: cfg, readConfig: () => loadConfig(configFile), configFile, log: createLogger('silent'), debounceMs: 100 });
    const results: string[] = [];
    const orig = reloader.reload.bind(reloader);
    reloader.reload = (t) => orig(t).then((r) => (results.push(r.outcome), r));
    await reloader.start();
    const out: Finding[] = [];
    try {
      // An episode of the unchanged rule is open before the update.
      out.push(...engine.process([rec(0, 'ldap timeout'), rec(M, 'ldap timeout')]));
      expect(out.map((f) => `${f.incident_type}/${f.status}`)).toEqual(['ldap_unreachable/observed']);
      expect(engine.process([rec(2 * M, 'quota exceeded for shop')])).toEqual([]);

      await cm.update({ 'rules.yaml': `rules:\n${rule('ldap-down', 'ldap timeout', 'ldap_unreachable', 2)}${rule('quota', 'quota exceeded', 'quota_exceeded')}` });
      await until(() => results.includes('applied'), 'the reload after the ConfigMap swap');
      expect(engine.rules.map((r) => r.id).sort()).toEqual(['ldap-down', 'quota']);
      // The new rule fires on the next line; the open ldap episode is the same one (no second observed).
      const next = engine.process([rec(3 * M, 'quota exceeded for shop'), rec(3 * M + 1, 'ldap timeout')]);
      expect(next.map((f) => `${f.incident_type}/${f.status}`)).toEqual(['quota_exceeded/observed']);

      await cm.update({ 'rules.yaml': `rules:\n  - name: broken\n    match: { regex: ['(unclosed'] }\n` });
      await until(() => results.includes('failed'), 'the refused reload');
      expect(engine.rules.map((r) => r.id).sort()).toEqual(['ldap-down', 'quota']);
      // The old rules keep firing; the episode opened before the first update recovers as usual.
      const later = engine.process([rec(4 * M, 'quota exceeded again'), rec(20 * M, 'idle')]);
      expect(later.map((f) => `${f.incident_type}/${f.status}`).sort()).toEqual(['ldap_unreachable/recovered', 'quota_exceeded/recovered']);
    } finally {
      reloader.stop();
      await cm.cleanup();
      await rm(cfgDir, { recursive: true, force: true });
    }
  });

  it('the run command reloads on SIGHUP, counts the outcome, and names what needs a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsd-run-reload-'));
    const rules = join(dir, 'rules.yaml');
    await writeFile(rules, `rules:\n${rule('quota', 'quota exceeded', 'quota_exceeded')}`);
    const port = await freePort();
    const configFile = join(dir, 'config.yaml');
    const config = (extra = '') => `kubernetes: { enabled: false }\nstate: { store: memory }\nserver: { host: 127.0.0.1, port: ${port} }\npipelines: { defaults: false, rules: [${rules}], watch: true }\n${extra}`;
    await writeFile(configFile, config());
    const child = spawn(process.execPath, ['src/cli.ts', 'run', '-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return text.split('\n').filter((l) => l.startsWith(name));
    };
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, 'the detector to listen', 30_000).catch(() => {
        throw new Error(`detector did not start:\n${log}`);
      });
      const hashBefore = await metric('rsd_config_hash{');
      expect(hashBefore).toHaveLength(1);

      await writeFile(rules, 'rules:\n  - name: broken\n    match: 3\n');
      child.kill('SIGHUP');
      await until(() => /reload failed/.test(log), 'the failed reload in the log');
      expect(log).toMatch(/rules\.yaml: rule \\"broken\\": field match: /);
      expect(await metric('rsd_config_reload_total{outcome="failed"}')).toEqual(['rsd_config_reload_total{outcome="failed"} 1']);
      expect(await metric('rsd_config_hash{')).toEqual(hashBefore);

      await writeFile(rules, `rules:\n${rule('quota', 'quota exceeded', 'quota_exceeded')}${rule('disk', 'disk full', 'disk_pressure')}`);
      await writeFile(configFile, config('log: { level: debug }'));
      child.kill('SIGHUP');
      await until(() => /rules reloaded/.test(log), 'the applied reload in the log');
      expect(log).toMatch(/"added":\["disk"\]/);
      expect(log).toMatch(/changed in log: these take effect only after a restart/);
      expect(await metric('rsd_config_reload_total{outcome="needs_restart"}')).toEqual(['rsd_config_reload_total{outcome="needs_restart"} 1']);
      expect(await metric('rsd_config_hash{')).not.toEqual(hashBefore);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
