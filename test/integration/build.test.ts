/**
 * The JavaScript build (dist/) is what the container image runs: it must behave as the sources do.
 * Builds into a scratch directory inside the repository (so node_modules resolves), then runs the
 * compiled CLI next to the source CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const node = process.execPath;
let out = '';

const cli = (entry: string, args: string[]): string => execFileSync(node, [entry, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn' } });
const findings = (ndjson: string): string[] =>
  ndjson
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { finding_id?: string; status?: string; incident_type?: string })
    .filter((f) => f.finding_id)
    .map((f) => `${f.incident_type}/${f.status}/${f.finding_id}`)
    .sort();

beforeAll(() => {
  out = mkdtempSync(join(root, '.dist-test-'));
  execFileSync(node, ['scripts/build.ts', '--out', out], { cwd: root, stdio: 'pipe' });
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the JavaScript build the image runs', () => {
  it('emits the CLI and the default pipeline as .js, and reports the package version', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(cli(join(out, 'src/cli.js'), ['--version']).trim()).toBe(pkg.version);
  });

  it('replays the bundled sample to the same findings as the sources', () => {
    const args = ['replay', 'samples/incident.ndjson', '--output', 'ndjson'];
    const built = findings(cli(join(out, 'src/cli.js'), args));
    expect(built.length).toBeGreaterThan(10);
    expect(built).toEqual(findings(cli('src/cli.ts', args)));
  });

  it("loads a user's TypeScript pipeline from outside the package through 'robot-sre-detector/pipeline'", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rsd-site-'));
    try {
      writeFileSync(
        join(dir, 'site.ts'),
        `import { signature, ruleSet } from 'robot-sre-detector/pipeline';
const id: string = 'site-quota';
export default ruleSet('site', [signature({ id, incident_type: 'quota_exceeded', domain: 'application', severity: 'warning', match: 'quota exceeded' })]);
`,
      );
      writeFileSync(join(dir, 'in.log'), 'tenant acme: quota exceeded for bucket logs\n');
      const built = findings(cli(join(out, 'src/cli.js'), ['replay', join(dir, 'in.log'), '--pipeline', join(dir, 'site.ts'), '--output', 'ndjson']));
      expect(built.filter((f) => f.startsWith('quota_exceeded/observed/'))).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
