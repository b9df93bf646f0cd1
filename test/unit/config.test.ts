import { describe, expect, it } from 'vitest';
import { parseConfig, loadConfig } from '../../src/config.ts';
import { KUBE_DEFAULTS } from '../../src/sources/kube/options.ts';

describe('config', () => {
  it('defaults make a runnable detector', () => {
    const c = parseConfig(null, '(defaults)', {});
    expect(c.cluster).toBe('default');
    expect(c.kubernetes).toMatchObject({ enabled: true, mode: 'cluster' });
    // The schema shows the source's own default, written once (src/sources/kube/options.ts).
    expect(c.kubernetes?.maxContainers).toBe(KUBE_DEFAULTS.maxContainers);
    // No Loki without a URL: lines are analysed but not stored.
    expect(c.loki).toBeUndefined();
    // No NATS without servers: findings go to stdout.
    expect(c.nats).toBeUndefined();
    expect(parseConfig('nats:\n  servers: [nats://n:4222]\n', 'c.yaml', {}).nats?.provisionStreams).toBe(true);
    expect(c.state.store).toBe('auto');
  });

  it('reads YAML, sizes and durations, with env overrides winning', () => {
    const c = parseConfig(
      'cluster: small\nloki:\n  url: http://loki:3100\n  memoryQueue: 16MiB\n  batchWait: 2s\n  spool: { dir: /spool, maxSize: 1GiB }\nkubernetes:\n  lookback: 5m\n  namespaces: [a, b]\n',
      'c.yaml',
      { LOKI_URL: 'http://other:3100', RSD_NAMESPACES: 'x,y' },
    );
    expect(c.cluster).toBe('small');
    expect(c.loki).toMatchObject({ url: 'http://other:3100', memoryQueue: 16 * 1024 * 1024, batchWait: 2000, spool: { dir: '/spool', maxSize: 1024 ** 3 } });
    expect(c.kubernetes?.lookback).toBe(300_000);
    expect(c.kubernetes?.namespaces).toEqual(['x', 'y']);
  });

  it.each([
    ['loki:\n  urll: http://x\n', /c.yaml: field loki.urll: unknown field/],
    ['loki:\n  url: ftp://x\n', /field loki.url: must be an http\(s\) URL/],
    ['kubernetes:\n  mode: sharded\n', /field kubernetes.shardCount: required in sharded mode/],
    ['kubernetes:\n  mode: node-local\n', /field kubernetes.nodeName: required in node-local mode/],
    ['kubernetes:\n  lookback: soon\n', /field kubernetes.lookback: invalid duration "soon"/],
    ['loki:\n  memoryQueue: lots\n', /field loki.memoryQueue: must be a size like 64MiB/],
    ['state:\n  store: jetstream-kv\n', /field state.store: jetstream-kv needs nats.servers/],
    ['cluster: [a]\n', /field cluster: must be a non-empty string/],
    ['loki: [\n', /c.yaml: field \(document\): not valid YAML/],
  ])('rejects %j', (text, err) => {
    expect(() => parseConfig(text, 'c.yaml', {})).toThrow(err);
  });

  it('a missing file is a clear error', () => {
    expect(() => loadConfig('/nonexistent/config.yaml', {})).toThrow(/\/nonexistent\/config.yaml: field \(file\): cannot read: ENOENT/);
  });
});
