/**
 * `run --check` as a user runs it (the CLI in a child process): every mistake of a config at once,
 * each with file and field, exit 2; a good config passes. Nothing is started.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '../../src/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'rsd-check-'));

async function check(yaml: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'run', '--check', '-c', file], { env: { PATH: process.env.PATH ?? '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr.replaceAll(file, 'c.yaml') };
  }
}

describe('run --check', () => {
  it('reports a bad Loki tenant, a bad lookback, an unreadable pipeline file and an unknown key together, exit 2', async () => {
    const r = await check(['loki:', '  url: http://loki:3100', '  tenant: "bad tenant!"', 'kubernetes:', '  lookback: soon', 'pipelines:', '  files: [/nonexistent/site.ts]', 'bogus: 1', ''].join('\n'));
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^robot-sre-detector: c\.yaml: field bogus: unknown field/),
      expect.stringMatching(/^robot-sre-detector: c\.yaml: field loki\.tenant: must be 1–150 of/),
      expect.stringMatching(/^robot-sre-detector: c\.yaml: field kubernetes\.lookback: invalid duration "soon"/),
      expect.stringMatching(/^robot-sre-detector: c\.yaml: field pipelines: \/nonexistent\/site\.ts: cannot load pipeline: ENOENT/),
      'robot-sre-detector: 4 problems in c.yaml',
    ]);
  });

  it('names a component that would fail to build (an unreadable secret) beside config mistakes', async () => {
    const r = await check(['alertmanager:', '  urls: [http://am:9093]', '  bearerTokenFile: /nonexistent/token', 'server:', '  port: 99999', ''].join('\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('field server.port: must be ≤ 65535');
    expect(r.stderr).toContain('alertmanager: /nonexistent/token: field alertmanager.bearerTokenFile: cannot read secret file: ENOENT');
    expect(r.stderr).toContain('2 problems');
  });

  it('builds the Loki sink, the NATS findings sink and the Kubernetes source without starting them: their unreadable files are reported', async () => {
    const r = await check([
      'loki:', '  url: http://loki:3100', '  basicAuth: { username: u, passwordFile: /nonexistent/pw }',
      'nats:', '  servers: [nats://127.0.0.1:1]', '  credsFile: /nonexistent/c.creds',
      'kubernetes:', '  kubeconfig: /nonexistent/kubeconfig', '',
    ].join('\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('loki: /nonexistent/pw: field loki.basicAuth.passwordFile: cannot read secret file: ENOENT');
    expect(r.stderr).toContain('nats: nats.credsFile /nonexistent/c.creds is not readable: ENOENT');
    expect(r.stderr).toContain('kubernetes: kubernetes.kubeconfig /nonexistent/kubeconfig is not readable: ENOENT');
    expect(r.stderr).toContain('3 problems');
  });

  it('a good config passes and says what it would run', async () => {
    const r = await check(['cluster: edge', 'kubernetes:', '  enabled: false', ''].join('\n'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^config ok: cluster=edge, \d+ rules, loki=off, nats=off, kubernetes=off, components=none/);
  });

  it('a field in error reads as its default, so the rest of the config is still checked', () => {
    const { config, errors } = readConfig('server:\n  port: nope\nkubernetes:\n  maxContainers: 0\n', 'c.yaml', {});
    expect(errors.map((e) => e.field).sort()).toEqual(['kubernetes.maxContainers', 'server.port']);
    expect(config.server.port).toBe(8080);
  });
});
