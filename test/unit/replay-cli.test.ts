import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Finding } from '../../src/model/finding.ts';
import { expectValid } from '../helpers/records.ts';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['src/cli.ts', ...args], { maxBuffer: 64 * 1024 * 1024 });
const parseFindings = (stdout: string): Finding[] => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Finding);

describe('replay command', () => {
  it('replays the bundled sample incident: expected incident types, schema-valid, identical on every run', async () => {
    const a = await cli(['replay', 'samples/incident.ndjson', '--output', 'ndjson']);
    const b = await cli(['replay', 'samples/incident.ndjson', '--output', 'ndjson']);
    expect(a.stdout).toBe(b.stdout);
    const findings = expectValid(parseFindings(a.stdout));
    const observed = new Set(findings.filter((f) => f.status === 'observed').map((f) => f.incident_type));
    for (const t of ['nats_unavailable', 'nats_outage', 'ldap_unreachable', 'identity_provider_unreachable', 'image_pull_not_found', 'oom_killed', 'crash_loop', 'disk_pressure', 'node_disk_exhaustion', 'tls_cert_error', 'error_spike', 'new_error_pattern']) {
      expect(observed, t).toContain(t);
    }
    // Secrets in the sample never leave the process.
    expect(a.stdout).not.toContain('hunter2');
    expect(a.stdout).not.toContain('sk_live_');
    const summary = JSON.parse(a.stderr.trim().split('\n').pop()!) as { summary: { lines: number } };
    expect(summary.summary.lines).toBe(6205);
  });

  it('passes malformed input through without crashing: invalid UTF-8, a 1 MiB line, broken JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsd-replay-'));
    const file = join(dir, 'bad.log');
    const parts = [
      Buffer.from('2026-01-01T00:00:00Z starting\n'),
      Buffer.from([0x45, 0x52, 0x52, 0x4f, 0x52, 0x20, 0xff, 0xfe, 0x0a]), // "ERROR \xff\xfe"
      Buffer.from(`{"level":"error","msg":"broken\n`),
      Buffer.from(`2026-01-01T00:00:01Z panic: ${'x'.repeat(1024 * 1024)}\n`),
      Buffer.from('2026-01-01T00:00:02Z panic: runtime error: index out of range\n'),
    ];
    await writeFile(file, Buffer.concat(parts));
    const { stdout, stderr } = await cli(['replay', file, '--output', 'ndjson']);
    const findings = expectValid(parseFindings(stdout));
    expect(findings.map((f) => f.incident_type)).toContain('panic_fatal');
    const summary = JSON.parse(stderr.trim().split('\n').pop()!) as { summary: { lines: number } };
    expect(summary.summary.lines).toBe(5);
  });

  it('prints help for every command', async () => {
    for (const cmd of ['replay', 'rules', 'patterns', 'streams', 'findings', 'run']) {
      const { stdout } = await cli([cmd, '--help']);
      expect(stdout, cmd).toMatch(/^Usage: robot-sre-detector/);
    }
    const { stdout } = await cli(['--help']);
    expect(stdout).toContain('replay');
  });

  it('rejects an unknown option with a clear message and exit code 2', async () => {
    await expect(cli(['replay', '--outptu', 'x'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("Unknown option '--outptu'") });
  });
});
