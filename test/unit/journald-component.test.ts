import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { buildComponents } from '../../src/components/configure.ts';
import { COMPONENTS } from '../../src/components/registry.ts';
import { createLogger } from '../../src/logger.ts';
import { findJournalctl, journaldComponent } from '../../src/sources/journald/component.ts';
import { JournaldSource } from '../../src/sources/journald/source.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';

const parse = (yaml: string) => parseConfig(yaml, 'c.yaml', {}, COMPONENTS);
const base = { cluster: 'c9', store: new MemoryStore(), pressure: { fill: 0 }, file: 'c.yaml' };

describe('journald: component', () => {
  it('is registered as a source and fills its defaults', () => {
    expect(COMPONENTS).toContain(journaldComponent);
    const c = parse('journald: {}\n').components.find((x) => x.spec.key === 'journald')!;
    expect(c.spec.kind).toBe('source');
    expect(c.options).toEqual({
      enabled: true,
      journalctl: 'journalctl',
      merge: false,
      units: [],
      identifiers: [],
      readFrom: 'end',
      maxLineSize: 262144,
      positions: { flushDelay: 200 },
      labels: { namespace: 'default' },
    });
  });

  it('reads every key', () => {
    const c = parse(
      'journald:\n  journalctl: /host/bin/journalctl\n  directory: /host/var/log/journal\n  units: [nginx.service, "api*"]\n  identifiers: kernel,sshd\n  priority: err..emerg\n  readFrom: start\n  positions: { flushDelay: 1s, scope: n1 }\n  labels: { service: host, app: os, host: n1 }\n',
    ).components.find((x) => x.spec.key === 'journald')!;
    expect(c.options).toMatchObject({
      journalctl: '/host/bin/journalctl',
      directory: '/host/var/log/journal',
      units: ['nginx.service', 'api*'],
      identifiers: ['kernel', 'sshd'],
      priority: 'err..emerg',
      readFrom: 'start',
      positions: { flushDelay: 1000, scope: 'n1' },
      labels: { service: 'host', app: 'os', host: 'n1', namespace: 'default' },
    });
  });

  it.each([
    ['journald:\n  directory: var/log/journal\n', 'field journald.directory: must be an absolute path'],
    ['journald:\n  directory: /j\n  merge: true\n', 'field journald.merge: applies to the default journal paths only'],
    ['journald:\n  priority: warn\n', 'field journald.priority: must be one of emerg, alert, crit, err, warning, notice, info, debug or 0–7'],
    ['journald:\n  units: [""]\n', 'field journald.units[0]: must not be empty'],
    ['journald:\n  readFrom: middle\n', 'field journald.readFrom: must be one of end, start'],
    ['journald:\n  labels: { pod: x }\n', 'field journald.labels.pod: unknown field'],
    ['journald:\n  cursor: x\n', 'field journald.cursor: unknown field'],
  ])('rejects %j', (yaml, message) => {
    expect(() => parse(yaml)).toThrow(message);
  });

  it('is off with enabled: false', () => {
    expect(parse('journald:\n  enabled: false\n').components.filter((c) => c.spec.key === 'journald')).toEqual([]);
  });

  it('check mode names a missing journalctl and an unreadable directory; otherwise builds a JournaldSource', async () => {
    const pick = (yaml: string) => parse(yaml).components.filter((c) => c.spec.key === 'journald');
    const missing = await buildComponents(pick('journald:\n  journalctl: /nonexistent/journalctl\n'), { ...base, checkOnly: true }, createLogger('silent'));
    expect(missing.errors.map((e) => e.error.message)).toEqual([
      "journalctl not found (/nonexistent/journalctl): install systemd (journalctl) in the image or mount the host's journal tools, or set journald.journalctl to its path",
    ]);
    const dir = await buildComponents(pick('journald:\n  journalctl: /bin/sh\n  directory: /nonexistent/journal\n'), { ...base, checkOnly: true }, createLogger('silent'));
    expect(dir.errors[0]!.error.message).toMatch(/^journald.directory \/nonexistent\/journal is not readable: ENOENT/);
    const ok = await buildComponents(pick('journald:\n  journalctl: /bin/sh\n'), { ...base, checkOnly: true }, createLogger('silent'));
    expect(ok.errors).toEqual([]);
    expect(ok.built[0]!.built).toEqual({});
    // Not in check mode a missing binary is not a build error: the source reports it as unready.
    const built = await buildComponents(pick('journald:\n  journalctl: /nonexistent/journalctl\n  labels: { host: n7 }\n'), { ...base, checkOnly: false }, createLogger('silent'));
    const src = built.built[0]!.built.sources![0]!;
    expect(src).toBeInstanceOf(JournaldSource);
    expect(src.name).toBe('journald');
    expect(src.unready()).toBeNull();
  });

  it('finds journalctl in PATH', () => {
    expect(findJournalctl('sh', '/nonexistent:/bin')).toBe('/bin/sh');
    expect(findJournalctl('no-such-binary-xyz', '/bin:/usr/bin')).toBeNull();
    expect(findJournalctl('/bin/sh')).toBe('/bin/sh');
  });
});
