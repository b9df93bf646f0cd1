import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { buildComponents } from '../../src/components/configure.ts';
import { COMPONENTS } from '../../src/components/registry.ts';
import { filesComponent } from '../../src/sources/files/component.ts';
import { FileSource } from '../../src/sources/files/source.ts';
import { createLogger } from '../../src/logger.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';

const parse = (yaml: string) => parseConfig(yaml, 'c.yaml', {}, COMPONENTS);

describe('files: component', () => {
  it('is registered as a source and fills its defaults', () => {
    expect(COMPONENTS).toContain(filesComponent);
    const cfg = parse('files:\n  include: [/var/log/app/*.log]\n');
    const c = cfg.components.find((x) => x.spec.key === 'files')!;
    expect(c.spec.kind).toBe('source');
    expect(c.options).toMatchObject({
      enabled: true,
      include: ['/var/log/app/*.log'],
      exclude: ['**/*.gz', '**/*.bz2', '**/*.xz', '**/*.zst', '**/*.zip', '**/*.lz4'],
      readFrom: 'end',
      maxOpenFiles: 1024,
      fingerprintBytes: 1024,
      maxLineSize: 262144,
      pollInterval: 1000,
      scanInterval: 10000,
      watch: true,
      closeIdleAfter: 300000,
      rotateWait: 5000,
      positions: { flushDelay: 200 },
      multiline: { mode: 'none', maxLines: 500, maxBytes: 131072, timeout: 1000 },
      labels: { namespace: 'default' },
    });
  });

  it.each([
    ['files:\n  include: [relative/*.log]\n', 'field files.include[0]: must be an absolute path pattern'],
    ['files:\n  include: []\n', 'field files.include: at least one pattern is needed'],
    ['files:\n  include: [/a]\n  exclude: ["*.gz"]\n', 'field files.exclude[0]: must be an absolute path pattern or start with **'],
    ['files:\n  include: [/a]\n  readFrom: middle\n', 'field files.readFrom: must be one of end, start'],
    ['files:\n  include: [/a]\n  maxOpenFiles: 0\n', 'field files.maxOpenFiles: must be ≥ 1'],
    ['files:\n  include: [/a]\n  multiline: { mode: custom }\n', 'field files.multiline.mode: custom mode needs start or continue'],
    ['files:\n  include: [/a]\n  multiline: { mode: custom, start: "(" }\n', 'field files.multiline.start: start: Invalid regular expression'],
    ['files:\n  include: [/a]\n  multiline: { mode: java, start: "^x" }\n', 'field files.multiline.mode: start and continue need mode: custom'],
    ['files:\n  include: [/a]\n  labels: { pod: x }\n', 'field files.labels.pod: unknown field'],
  ])('rejects %j', (yaml, message) => {
    expect(() => parse(yaml)).toThrow(message);
  });

  it('is off with enabled: false', () => {
    expect(parse('files:\n  enabled: false\n  include: [/a]\n').components.filter((c) => c.spec.key === 'files')).toEqual([]);
  });

  it('builds nothing in check mode and a FileSource otherwise', async () => {
    const cfg = parse('cluster: c9\nfiles:\n  include: [/var/log/*.log]\n  labels: { service: api, host: node-7 }\n');
    const base = { cluster: 'c9', store: new MemoryStore(), pressure: { fill: 0 }, file: 'c.yaml' };
    const files = cfg.components.filter((c) => c.spec.key === 'files');
    const checked = await buildComponents(files, { ...base, checkOnly: true }, createLogger('silent'));
    expect(checked.errors).toEqual([]);
    expect(checked.built[0]!.built).toEqual({});
    const built = await buildComponents(files, { ...base, checkOnly: false }, createLogger('silent'));
    const src = built.built[0]!.built.sources![0]!;
    expect(src).toBeInstanceOf(FileSource);
    expect(src.name).toBe('files');
  });
});
