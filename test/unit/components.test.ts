import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { defineComponent } from '../../src/components/component.ts';
import { buildComponents } from '../../src/components/configure.ts';
import { renderComponentDocs, spliceComponentDocs } from '../../src/components/docs.ts';
import { SETTINGS } from '../../src/components/settings.ts';
import { COMPONENTS } from '../../src/components/registry.ts';
import { defineSchema, readSection, type Values } from '../../src/components/schema.ts';
import { createLogger } from '../../src/logger.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';

const schema = defineSchema({
  enabled: { type: 'boolean', default: true, doc: 'turn it on' },
  paths: { type: 'list', required: true, doc: 'files to read' },
  maxOpen: { type: 'integer', default: 100, min: 1, doc: 'open files at most' },
  readFrom: { type: 'enum', values: ['start', 'end'], default: 'end', doc: 'where a new file is read from' },
  flushAfter: { type: 'duration', default: '5s', doc: 'multiline timeout' },
  maxLine: { type: 'bytes', default: '64KiB', doc: 'line cap' },
  multiline: { type: 'mapping', doc: 'joining', fields: { start: { type: 'string', doc: 'start pattern' } } },
  services: { type: 'mappings', doc: 'services', fields: { name: { type: 'string', required: true, doc: 'service name' } } },
});

const example = defineComponent({
  key: 'example',
  kind: 'source',
  doc: 'A test source.',
  schema,
  enabled: (o) => o.enabled,
  validate(o, ctx) {
    if (o.paths.some((p) => !p.startsWith('/'))) ctx.fail('paths', 'must be absolute paths');
  },
  async build(o, ctx) {
    if (o.paths.includes('/broken')) throw new Error('cannot open /broken');
    ctx.log.debug({ paths: o.paths }, 'built');
    return { sources: [] };
  },
});

describe('component schema', () => {
  it('fills defaults and types the options', () => {
    const o: Values<typeof schema> = readSection(schema, { paths: ['/var/log/a.log'] }, 'c.yaml', 'example');
    expect(o).toEqual({ enabled: true, paths: ['/var/log/a.log'], maxOpen: 100, readFrom: 'end', flushAfter: 5000, maxLine: 65536, multiline: {}, services: [] });
  });

  it.each([
    [{ paths: ['/a'], bogus: 1 }, 'c.yaml: field example.bogus: unknown field'],
    [{}, 'c.yaml: field example.paths: required'],
    [{ paths: ['/a'], maxOpen: 0 }, 'c.yaml: field example.maxOpen: must be ≥ 1'],
    [{ paths: ['/a'], readFrom: 'middle' }, 'c.yaml: field example.readFrom: must be one of start, end'],
    [{ paths: ['/a'], flushAfter: 'soon' }, 'c.yaml: field example.flushAfter:'],
    [{ paths: ['/a'], maxLine: '12 parsecs' }, 'c.yaml: field example.maxLine: must be a size'],
    [{ paths: ['/a'], multiline: { start: 3 } }, 'c.yaml: field example.multiline.start: must be a non-empty string'],
    [{ paths: ['/a'], services: [{ name: 'a' }, {}] }, 'c.yaml: field example.services[1].name: required'],
  ])('rejects %j with file, field and reason', (section, message) => {
    expect(() => readSection(schema, section, 'c.yaml', 'example')).toThrow(message);
  });
});

describe('configured components', () => {
  it('reads a registered section through parseConfig, and rejects semantic errors with the field', () => {
    const cfg = parseConfig('example:\n  paths: [/var/log/x.log]\n', 'c.yaml', {}, [example]);
    expect(cfg.components.map((c) => c.spec.key)).toEqual(['example']);
    expect(() => parseConfig('example:\n  paths: [relative.log]\n', 'c.yaml', {}, [example])).toThrow('c.yaml: field example.paths: must be absolute paths');
    expect(() => parseConfig('exampel:\n  paths: [/x]\n', 'c.yaml', {}, [example])).toThrow('field exampel: unknown field');
    expect(parseConfig('example:\n  enabled: false\n  paths: [/x]\n', 'c.yaml', {}, [example]).components).toEqual([]);
  });

  it('check mode collects every build error instead of stopping at the first', async () => {
    const cfg = parseConfig('example:\n  paths: [/broken]\n', 'c.yaml', {}, [example]);
    const base = { cluster: 'c', store: new MemoryStore(), pressure: { fill: 0 }, file: 'c.yaml' };
    const checked = await buildComponents(cfg.components, { ...base, checkOnly: true }, createLogger('silent'));
    expect(checked.errors.map((e) => [e.key, e.error.message])).toEqual([['example', 'cannot open /broken']]);
    await expect(buildComponents(cfg.components, { ...base, checkOnly: false }, createLogger('silent'))).rejects.toThrow('cannot open /broken');
  });
});

describe('docs/configuration.md', () => {
  it('renders one table row per leaf field', () => {
    const md = renderComponentDocs([example]);
    expect(md).toContain('| `example.maxOpen` | integer (≥ 1) | `100` | open files at most |');
    expect(md).toContain('| `example.readFrom` | `start` \\| `end` | `end` |');
    expect(md).toContain('| `example.services[].name` | string | `(required)` | service name |');
  });

  it('holds exactly what the registered schemas generate (npm run docs:config)', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(spliceComponentDocs(doc, [...SETTINGS, ...COMPONENTS])).toBe(doc);
  });
});
