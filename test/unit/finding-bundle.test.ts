/**
 * Findings point at their evidence: `evidence.bundle` is a request the bundle server accepts
 * (checked with its own parser), built from the samples (pods, or host services), with a window
 * around the episode; it survives the envelope's clamping and matches the JSON Schema. The replay
 * of the bundled sample gives one to every finding that names a pod.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bundleRequestOf, bundleWindow } from '../../src/findings/bundle-request.ts';
import type { Sample } from '../../src/findings/evidence.ts';
import type { Finding, ResourceScope } from '../../src/model/finding.ts';
import { MAX_BUNDLE_TARGETS } from '../../src/model/limits.ts';
import { clampFinding, encodeFinding } from '../../src/nats/envelope.ts';
import { parseBundleRequest } from '../../src/servers/bundles/request.ts';
import { findingErrors } from '../helpers/validate-finding.ts';

const LIMITS = { maxPods: 20, maxMetricsPods: 20, maxTotalLogLines: 50_000, maxSinceSeconds: 3600, metricsTimeoutMs: 2000, maxMetricsTimeoutMs: 10_000 };
const T = Date.parse('2026-11-20T10:00:00.250Z');
const scope: ResourceScope = { cluster: 'c', namespace: 'shop', workload: 'api', pod: 'api-7d9f-abcde', container: 'api' };
const podSample = (pod: string, ns = 'shop'): Sample => ({ ts: new Date(T).toISOString(), line: 'x', pod, container: 'api', labels: { cluster: 'c', namespace: ns, app: 'api', container: 'api', source: 'pod' } });
const hostSample = (service: string, source: 'file' | 'journal'): Sample => ({ ts: new Date(T).toISOString(), line: 'x', labels: { cluster: 'c', namespace: 'db-host-1', service_name: service, source } });

describe('evidence.bundle: the request a finding carries', () => {
  it('Kubernetes: the scope pod and the samples’ pods, previous logs, events and metrics; the server accepts it', () => {
    const r = bundleRequestOf([podSample('api-7d9f-abcde'), podSample('api-7d9f-fghij'), podSample('api-7d9f-fghij')], scope, T, T + 90_000)!;
    expect(r.target).toEqual({ pods: [{ namespace: 'shop', pod: 'api-7d9f-abcde' }, { namespace: 'shop', pod: 'api-7d9f-fghij' }] });
    expect(r.include).toEqual({ logs: { enabled: true, previous: true }, events: { enabled: true }, metrics: { enabled: true } });
    expect(r.timeWindow).toEqual({ start: '2026-11-20T09:55:00Z', end: '2026-11-20T10:02:31Z' });
    const parsed = parseBundleRequest(JSON.parse(JSON.stringify(r)), LIMITS);
    expect(parsed.target).toEqual({ kind: 'pods', pods: r.target && 'pods' in r.target ? r.target.pods : [] });
    expect(parsed.timeWindow.kind).toBe('absolute');
  });

  it('an event about a Pod names that pod; a node condition names nothing, so there is no request', () => {
    const ev = bundleRequestOf([], { cluster: 'c', namespace: 'shop', kind: 'Pod', name: 'web-0' }, T, T)!;
    expect(ev.target).toEqual({ pods: [{ namespace: 'shop', pod: 'web-0' }] });
    expect(bundleRequestOf([{ ts: '', line: 'disk', labels: { source: 'event', namespace: 'default' } }], { cluster: 'c', namespace: 'default', node: 'node-a', kind: 'Node', name: 'node-a' }, T, T)).toBeUndefined();
  });

  it('at most MAX_BUNDLE_TARGETS pods', () => {
    const many = Array.from({ length: 30 }, (_, i) => podSample(`p-${i}`));
    const r = bundleRequestOf(many, { cluster: 'c', namespace: 'shop' }, T, T)!;
    expect('pods' in r.target && r.target.pods.length).toBe(MAX_BUNDLE_TARGETS);
  });

  it('a host without Kubernetes: its services; a window only when a journal is among the sources', () => {
    const files = bundleRequestOf([hostSample('shop', 'file')], { cluster: 'c', namespace: 'db-host-1', workload: 'shop' }, T, T)!;
    expect(files).toEqual({ target: { kind: 'services', services: ['shop'] }, include: { logs: { enabled: true }, metrics: { enabled: true } } });
    const journal = bundleRequestOf([hostSample('postgres', 'journal'), hostSample('shop', 'file')], { cluster: 'c', namespace: 'db-host-1', workload: 'postgres' }, T, T)!;
    expect(journal.target).toEqual({ kind: 'services', services: ['postgres', 'shop'] });
    expect(journal.timeWindow).toBeDefined();
  });

  it('the window is at most one hour, ending a minute after the last line', () => {
    const w = bundleWindow(T - 5 * 3600_000, T);
    expect(Date.parse(w.end) - Date.parse(w.start)).toBe(3600_000);
    expect(Date.parse(w.end)).toBeGreaterThanOrEqual(T + 60_000);
    expect(() => parseBundleRequest({ timeWindow: w, target: { pods: [{ namespace: 'a', pod: 'b' }] } }, LIMITS)).not.toThrow();
  });
});

describe('evidence.bundle on the wire', () => {
  const finding = (bundle: Finding['evidence']['bundle']): Finding => ({
    schema_version: '1.0',
    finding_id: 'a'.repeat(24),
    source: 'robot-sre-detector',
    domain: 'runtime',
    incident_type: 'crash_loop',
    severity: 'error',
    confidence: 0.9,
    summary: 'crash loop',
    evidence: { lines: [], templates: [], loki: { query: '{namespace="shop"}', start: '2026-12-03T09:59:00Z', end: '2026-12-03T10:01:00Z' }, ...(bundle ? { bundle } : {}) },
    resource_scope: scope,
    dedupe_key: 'b'.repeat(24),
    observed_at: '2026-12-03T10:00:00Z',
    rule: { id: 'r', version: '1' },
    status: 'observed',
    first_seen: '2026-12-03T10:00:00Z',
    last_seen: '2026-12-03T10:00:00Z',
    count: 1,
  });

  it('survives clamping and encoding, and matches the schema', () => {
    const b = bundleRequestOf([podSample('api-7d9f-abcde')], scope, T, T)!;
    const { finding: clamped, truncated } = clampFinding(finding(b));
    expect(truncated).toBe(false);
    expect(clamped.evidence.bundle).toEqual(b);
    const sent = JSON.parse(encodeFinding(finding(b)).payload) as { data: Finding };
    expect(sent.data.evidence.bundle).toEqual(b);
    expect(findingErrors(sent.data)).toEqual([]);
    const host = bundleRequestOf([hostSample('shop', 'journal')], { cluster: 'c', namespace: 'h' }, T, T)!;
    expect(findingErrors(finding(host))).toEqual([]);
  });

  it('a name too long for the wire is dropped, never cut into a pod that does not exist', () => {
    const long = 'p'.repeat(300);
    const { finding: clamped } = clampFinding(finding({ target: { pods: [{ namespace: 'shop', pod: long }, { namespace: 'shop', pod: 'ok-0' }] }, include: { logs: { enabled: true }, metrics: { enabled: false } } }));
    expect(clamped.evidence.bundle!.target).toEqual({ pods: [{ namespace: 'shop', pod: 'ok-0' }] });
  });

  it('the schema refuses a request of another shape', () => {
    expect(findingErrors(finding({ target: { selector: 'app=x' } as never, include: { logs: { enabled: true }, metrics: { enabled: true } } })).length).toBeGreaterThan(0);
  });
});

describe('replay of the bundled sample', () => {
  it('every finding that names a pod carries a request for that pod', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['src/cli.ts', 'replay', 'samples/incident.ndjson', '--output', 'ndjson'], { maxBuffer: 64 * 1024 * 1024 });
    const findings = stdout.trim().split('\n').map((l) => JSON.parse(l) as Finding);
    const withPod = findings.filter((f) => f.resource_scope.pod);
    expect(withPod.length).toBeGreaterThan(5);
    for (const f of withPod) {
      const t = f.evidence.bundle?.target;
      expect(t && 'pods' in t && t.pods.some((p) => p.pod === f.resource_scope.pod && p.namespace === f.resource_scope.namespace), f.incident_type).toBe(true);
      expect(findingErrors(f)).toEqual([]);
    }
  });
});
