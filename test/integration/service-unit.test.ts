/**
 * The systemd unit a host install copies (examples/robot-sre-detector.service, docs/operations.md "A
 * host without Kubernetes"), read by the real systemd-analyze (the systemd package `npm run setup`
 * installs): every line parses, and the environment is what the comments say. An unquoted
 * `Environment=NODE_OPTIONS=--a --b` is split at the space: systemd kept only the heap cap and
 * warned "Invalid environment assignment, ignoring: --max-semi-space-size=4".
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const unit = new URL('../../examples/robot-sre-detector.service', import.meta.url);

describe('examples/robot-sre-detector.service', () => {
  it('systemd-analyze verify reports nothing but the install path this machine does not have', () => {
    expect(execFileSync('systemd-analyze', ['--version'], { encoding: 'utf8' })).toMatch(/^systemd \d+/);
    const dir = mkdtempSync(join(tmpdir(), 'rsd-unit-'));
    const file = join(dir, 'robot-sre-detector.service');
    copyFileSync(unit, file);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
    // ExecStart names /opt/robot-sre-detector/…/node, which only a host install creates.
    const other = lines.filter((l) => !/\/opt\/robot-sre-detector\/node_modules\/\.bin\/node is not executable/.test(l));
    expect(other).toEqual([]);
  });

  it('sets NODE_OPTIONS with both V8 flags, MALLOC_ARENA_MAX and the config file', () => {
    // systemd's own splitting rules for Environment=: double quotes keep a value with spaces whole.
    const env: Record<string, string> = {};
    for (const line of readFileSync(unit, 'utf8').split('\n')) {
      const m = /^Environment=(.*)$/.exec(line);
      if (!m) continue;
      for (const word of m[1]!.match(/"[^"]*"|\S+/g) ?? []) {
        const kv = word.replace(/^"|"$/g, '');
        const eq = kv.indexOf('=');
        expect(eq, `an assignment: ${word}`).toBeGreaterThan(0);
        env[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
    }
    expect(env).toEqual({
      CONFIG_FILE: '/etc/robot-sre-detector/config.yaml',
      NODE_OPTIONS: '--max-old-space-size=384 --max-semi-space-size=4',
      MALLOC_ARENA_MAX: '2',
    });
  });
});
