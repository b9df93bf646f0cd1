/**
 * The npm package as a user gets it: `npm pack` (prepack builds dist/), then `npm install <tgz>` into
 * an empty project in the system temp directory, with no repository node_modules above it (npm fetches
 * the runtime dependencies). Everything in that project runs with this Node (24) first on PATH and
 * none of the repository's npm or Node settings. Node does not strip types under node_modules, so
 * this is what catches a package whose exports, types or bin name .ts sources.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.ts';
import { connectNats } from '../../src/nats/connection.ts';
import { JetStreamFindingSink } from '../../src/sinks/jetstream.ts';
import { natsUnavailableSkip, startNats, type NatsServerHandle } from '../env/nats.ts';

const root = resolve(import.meta.dirname, '../..');
const sample = join(root, 'samples/incident.ndjson');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  engines: { node: string };
  exports: Record<string, string | Record<string, string>>;
};
const versionOf = (name: string): string => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

// A user's shell: this Node first on PATH (npm and npx are `#!/usr/bin/env node` scripts), no npm_*
// variables of an outer `npm test`, no NODE_OPTIONS (it could carry the repository's --conditions).
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|node_options$|node_path$|init_cwd$)/i.test(k)));
env.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
env.LOG_LEVEL = 'warn';

let dir = '';
let project = '';
let installed = '';
const inProject = (cmd: string, args: string[], input?: string): string =>
  execFileSync(cmd, args, { cwd: project, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });
const npx = (args: string[]): string => inProject('npx', ['--no', '--', pkg.name, ...args]);

const parse = (ndjson: string): Finding[] =>
  ndjson
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Finding)
    .filter((f) => f.finding_id);
const keys = (fs: Finding[]): string[] => fs.map((f) => `${f.incident_type}/${f.status}/${f.dedupe_key}/${f.finding_id}/${f.count}`).sort();

let replayed: Finding[] | null = null;
/** The sample replayed by the installed command. */
const installedReplay = (): Finding[] => (replayed ??= parse(npx(['replay', sample, '--output', 'ndjson'])));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rsd-pkg-'));
  execFileSync('npm', ['pack', '--pack-destination', dir, '--no-audit', '--no-fund'], { cwd: root, env, stdio: 'pipe' });
  const tgz = readdirSync(dir).find((n) => n.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack wrote no tarball into ${dir}`);
  project = join(dir, 'site');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'site', private: true, type: 'module' }, null, 2)}\n`);
  inProject('npm', [
    'install', join(dir, tgz), `typescript@${versionOf('typescript')}`, `@types/node@${versionOf('@types/node')}`,
    '--no-audit', '--no-fund', '--prefer-offline',
  ]);
  installed = join(project, 'node_modules', pkg.name);
}, 600_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the npm package installed into an empty project', () => {
  it('ships JavaScript and declarations only, and every export resolves to a shipped file', () => {
    const files = (readdirSync(installed, { recursive: true }) as string[]).map((f) => f.split('\\').join('/'));
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // A host install (docs/operations.md) takes its systemd unit and config example from the package.
    const hostInstall = ['examples', 'examples/robot-sre-detector.service', 'examples/standalone-config.yaml'];
    expect(files.filter((f) => /^(src|test|bench|scripts|examples|manifests|docs|samples)(\/|$)/.test(f) && !hostInstall.includes(f))).toEqual([]);
    for (const f of hostInstall.slice(1)) expect(files).toContain(f);
    expect(files).toContain('dist/src/cli.js');
    expect(files).toContain('dist/pipelines/default.js');
    for (const [sub, target] of Object.entries(pkg.exports)) {
      const { 'rsd-source': _dev, ...shipped } = typeof target === 'string' ? { default: target } : target;
      for (const file of Object.values(shipped)) expect(existsSync(join(installed, file)), `${sub} → ${file}`).toBe(true);
    }
    const script = ['robot-sre-detector/consumer', 'robot-sre-detector/pipeline', 'robot-sre-detector']
      .map((s) => `console.log(${JSON.stringify(s)}, import.meta.resolve(${JSON.stringify(s)}), Object.keys(await import(${JSON.stringify(s)})).length);`)
      .join('\n');
    const out = inProject(process.execPath, ['--input-type=module', '-'], script).trim().split('\n');
    expect(out).toHaveLength(3);
    for (const line of out) expect(line).toMatch(/ file:\/\/\S+\/node_modules\/robot-sre-detector\/dist\/src\/\S+\.js [1-9]\d*$/);
  });

  it('runs `npx robot-sre-detector --help` and --version', () => {
    expect(npx(['--help'])).toContain('Usage: robot-sre-detector <command>');
    expect(npx(['--version']).trim()).toBe(pkg.version);
  });

  it('(a) replays the bundled sample to the same findings as the repository', () => {
    const repo = parse(execFileSync(process.execPath, ['src/cli.ts', 'replay', sample, '--output', 'ndjson'], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }));
    expect(repo.length).toBeGreaterThan(10);
    expect(keys(installedReplay())).toEqual(keys(repo));
  });

  it('says which Node it needs, in one line with exit status 1, on an older Node', () => {
    // An older Node, simulated: the first thing the command does is read the version.
    const older = "Object.defineProperty(process.versions,'node',{value:'22.18.0'});Object.defineProperty(process,'version',{value:'v22.18.0'})";
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(older)}`, join(installed, 'bin/robot-sre-detector.js'), '--help'], { cwd: project, env, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`robot-sre-detector needs Node.js ${pkg.engines.node} (this is Node.js v22.18.0)\n`);
  });

  describe.skipIf(natsUnavailableSkip())('(b) with a real nats-server', () => {
    let server: NatsServerHandle;
    beforeAll(async () => {
      server = await startNats();
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('a consumer script importing robot-sre-detector/consumer reads the findings the detector publishes', async () => {
      npx(['streams', 'apply', '--server', server.url]);
      const findings = installedReplay();
      const nc = await connectNats({ servers: server.url });
      try {
        const sink = new JetStreamFindingSink({ connection: nc });
        for (const f of findings) sink.publish(f);
        await sink.close(10_000);
      } finally {
        await nc.close();
      }
      writeFileSync(
        join(project, 'consumer.mjs'),
        `import { subscribeFindings } from 'robot-sre-detector/consumer';
const [servers, want] = process.argv.slice(2);
const seen = [];
setTimeout(() => { console.log('RESULT ' + JSON.stringify(seen)); process.exit(1); }, 30_000).unref();
let done;
const all = new Promise((r) => (done = r));
const sub = await subscribeFindings({
  nats: { servers }, durable: 'package-install',
  handler: (f, ctx) => { seen.push(f); if (seen.length >= Number(want)) done(); },
});
await all;
await sub.stop();
console.log('RESULT ' + JSON.stringify(seen));
`,
      );
      const out = inProject(process.execPath, ['consumer.mjs', server.url, String(findings.length)]);
      const result = out.split('\n').find((l) => l.startsWith('RESULT '));
      expect(result, out).toBeDefined();
      expect(keys(JSON.parse(result!.slice('RESULT '.length)) as Finding[])).toEqual(keys(findings));
    });
  });

  it('(c) tsc --noEmit passes on a TypeScript consumer and a TypeScript pipeline against the shipped types; the pipeline loads', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      `${JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], skipLibCheck: false }, include: ['*.ts'] }, null, 2)}\n`,
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { fetchBundle, subscribeFindings, SEVERITY_ORDER, type Finding, type FindingSubscription } from 'robot-sre-detector/consumer';

export async function evidenceLines(finding: Finding, token: string): Promise<string[]> {
  const out: string[] = [];
  const bundle = await fetchBundle(finding, token, { url: 'http://rsd:8090', adjust: (r) => ({ ...r, include: { ...r.include, metrics: { enabled: false } } }) });
  for await (const r of bundle.records) if (r.type === 'log' && typeof r.line === 'string') out.push(r.line);
  return out;
}
// @ts-expect-error the options name the server
void fetchBundle({} as Finding, 't', {});

export function follow(servers: string, triage: (f: Finding) => Promise<void>): Promise<FindingSubscription> {
  return subscribeFindings({
    nats: { servers }, durable: 'robot-sre', namespaces: ['shop'], events: ['observed'],
    handler: async (finding, ctx) => {
      const seq: number = ctx.seq;
      if (seq > 0 && SEVERITY_ORDER[finding.severity] >= SEVERITY_ORDER.error) await triage(finding);
    },
  });
}
// The declarations are real, not \`any\`: a wrong option is an error.
// @ts-expect-error events are 'observed' | 'recovered'
void subscribeFindings({ nats: { servers: 'nats://x' }, durable: 'd', events: ['opened'], handler: () => {} });
`,
    );
    writeFileSync(
      join(project, 'pipeline.ts'),
      `import { ruleSet, signature, type Rule } from 'robot-sre-detector/pipeline';

const rules: Rule[] = [
  signature({ id: 'site-quota', incident_type: 'quota_exceeded', domain: 'application', severity: 'warning', match: 'quota exceeded' }),
];
// @ts-expect-error severity is one of 'info' | 'warning' | 'error' | 'critical'
signature({ id: 'bad', incident_type: 'x', domain: 'application', severity: 'loud', match: 'x' });
export default ruleSet('site', rules);
`,
    );
    const tsc = spawnSync(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: project, env, encoding: 'utf8' });
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.status).toBe(0);

    writeFileSync(join(project, 'in.log'), 'tenant acme: quota exceeded for bucket logs\n');
    const fromPipeline = parse(npx(['replay', 'in.log', '--pipeline', 'pipeline.ts', '--no-default-rules', '--output', 'ndjson']));
    expect(fromPipeline.map((f) => `${f.incident_type}/${f.status}/${f.rule.id}`)).toEqual(['quota_exceeded/observed/site-quota']);
  });
});
