import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { help, run } from '../../src/commands/patterns.ts';
import { LOGHUB_FORMATS, groupingAccuracy, loadLoghubSystem, scoreSystem } from '../../src/detect/miner/evaluate.ts';

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function runWith(argv: string[], stdinText = ''): Promise<Out> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await run(argv, { stdin: Readable.from([stdinText]), stdout, stderr });
  return { code, stdout: out, stderr: err };
}

const parse = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { line: number; cluster: string; template: string });

const dir = mkdtempSync(join(tmpdir(), 'rsd-patterns-'));

describe('patterns command', () => {
  it('writes one NDJSON object per line, in input order, and a summary on stderr', async () => {
    const file = join(dir, 'a.log');
    const lines = [
      'Connection to 10.0.0.1 timed out after 3000 ms',
      'disk full on /dev/sda1',
      'Connection to 10.0.0.9 timed out after 12 ms',
      '',
      'Connection to 10.0.0.3 timed out after 7 ms',
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runWith([file]);
    expect(r.code).toBe(0);
    const recs = parse(r.stdout);
    expect(recs.map((x) => x.line)).toEqual([1, 2, 3, 4, 5]);
    expect(recs[0]).toEqual({ line: 1, cluster: recs[2]!.cluster, template: 'Connection to <*> timed out after <*> ms' });
    expect(recs[4]!.cluster).toBe(recs[0]!.cluster);
    expect(recs[1]!.cluster).not.toBe(recs[0]!.cluster);
    expect(recs[3]!.template).toBe('');
    expect(r.stderr).toMatch(/5 lines, 3 clusters/);
    expect(r.stderr).toMatch(/lines\/s/);
  });

  it('mines <Content> with --log-format and counts lines that do not match', async () => {
    const file = join(dir, 'b.log');
    writeFileSync(
      file,
      [
        '2015-10-18 18:01:47,978 INFO [main] org.apache.App: Created MRAppMaster for application appattempt_1445144423722_0020_000001',
        'garbage line without header',
        '2015-10-18 18:01:48,963 INFO [main] org.apache.App: Created MRAppMaster for application appattempt_1445144423722_0021_000001',
      ].join('\r\n'),
    );
    const r = await runWith([file, '--log-format', '<Date> <Time> <Level> \\[<Process>\\] <Component>: <Content>']);
    expect(r.code).toBe(0);
    const recs = parse(r.stdout);
    expect(recs).toHaveLength(3);
    expect(recs[0]!.template).toBe('Created MRAppMaster for application appattempt_<*>');
    expect(recs[2]!.cluster).toBe(recs[0]!.cluster);
    expect(recs[1]!.template).toBe('garbage line without header');
    expect(r.stderr).toMatch(/1 lines not matching --log-format/);
  });

  it('reads stdin with -', async () => {
    const r = await runWith(['-'], 'a b 1\na b 2\n');
    expect(r.code).toBe(0);
    const recs = parse(r.stdout);
    expect(recs).toHaveLength(2);
    expect(recs[0]!.cluster).toBe(recs[1]!.cluster);
    expect(recs[0]!.template).toBe('a b <*>');
  });

  it('prints merged ids within the window: CLI output scores the same GA as the miner (OpenSSH)', async () => {
    const datasets = process.env.RSD_LOGHUB_DIR ?? resolve(import.meta.dirname, '../../../shared/datasets/loghub-2k');
    expect(existsSync(datasets), `Loghub-2k datasets expected at ${datasets}`).toBe(true);
    const file = join(datasets, 'OpenSSH', 'OpenSSH_2k.log');
    const r = await runWith([file, '--log-format', LOGHUB_FORMATS.OpenSSH!]);
    expect(r.code).toBe(0);
    const recs = parse(r.stdout);
    expect(recs).toHaveLength(2000);
    const sys = loadLoghubSystem(datasets, 'OpenSSH');
    const ga = groupingAccuracy(sys.eventIds, recs.map((x) => x.cluster));
    expect(ga).toBeCloseTo(scoreSystem(sys).ga, 6);
    expect(ga).toBeGreaterThan(0.95);
    // --window 0 prints ids as they were when each line was read: merges come later.
    const streaming = parse((await runWith([file, '--log-format', LOGHUB_FORMATS.OpenSSH!, '--window', '0'])).stdout);
    expect(groupingAccuracy(sys.eventIds, streaming.map((x) => x.cluster))).toBeLessThan(ga);
  });

  it('flushes held-back lines when the input pauses', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = run(['-'], { stdin, stdout, stderr });
    stdin.write('service started on port 8080\nservice started on port 8081\n');
    await new Promise((r) => setTimeout(r, 900));
    expect(parse(out)).toHaveLength(2);
    stdin.end('service stopped\n');
    expect(await done).toBe(0);
    expect(parse(out)).toHaveLength(3);
  });

  it('prints help, and fails cleanly on usage errors and missing files', async () => {
    const h = await runWith(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toBe(help);
    expect((await runWith([])).code).toBe(2);
    expect((await runWith(['a', 'b'])).code).toBe(2);
    expect((await runWith(['x', '--bogus'])).code).toBe(2);
    expect((await runWith(['x', '--log-format', 'no fields'])).code).toBe(2);
    expect((await runWith(['x', '--window', '-1'])).code).toBe(2);
    const missing = await runWith([join(dir, 'does-not-exist.log')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT/);
  });
});
