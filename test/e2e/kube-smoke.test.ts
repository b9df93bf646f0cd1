/**
 * Smoke test of the real control plane started by test/env/kube.ts: etcd + kube-apiserver (RBAC) + kwok.
 * A pod's log file is appended to while a follow=true request is open through the real apiserver.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { appendCriLines, startKube, type KubeEnv } from '../env/kube.ts';

const skip = shouldSkip('kube-smoke', ['etcd', 'kube-apiserver', 'kubectl', 'kwok']);

describe.skipIf(skip)('real kube-apiserver + etcd + kwok (test/env/kube.ts)', () => {
  let env: KubeEnv | undefined;
  let logsFile = '';
  let previousLogsFile = '';

  beforeAll(async () => {
    env = await startKube();
    logsFile = join(env.dir, 'web.log');
    previousLogsFile = join(env.dir, 'web.previous.log');
    await appendCriLines(previousLogsFile, [{ ts: '2026-01-02T03:04:05.123456789Z', stream: 'stderr', line: 'panic: before restart' }]);
    await appendCriLines(logsFile, [{ ts: '2026-01-02T03:04:06.000000001Z', line: 'first line' }]);
    await env.createNode('node-a');
    await env.createPod({ name: 'web', namespace: 'smoke' });
    await env.setPodLogs('smoke', 'web', { logsFile, previousLogsFile });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('streams lines appended to the CRI file through pods/log?follow=true&timestamps=true', async () => {
    const e = env!;
    const s = await e.stream('/api/v1/namespaces/smoke/pods/web/log?follow=true&timestamps=true');
    try {
      expect(s.status).toBe(200);
      await s.waitFor('first line');
      await appendCriLines(logsFile, [{ ts: '2026-01-02T03:04:07.5Z', line: 'appended while following' }]);
      const text = await s.waitFor('appended while following');
      expect(text).toBe('2026-01-02T03:04:06.000000001Z first line\n2026-01-02T03:04:07.500000000Z appended while following\n');
    } finally {
      s.close();
    }
  });

  it('serves previousLogsFile for previous=true', async () => {
    const res = await env!.request('GET', '/api/v1/namespaces/smoke/pods/web/log?previous=true');
    expect(res.status).toBe(200);
    expect(res.body).toBe('panic: before restart\n');
  });

  it('enforces RBAC for ServiceAccount tokens (403 without a binding, 200 with one)', async () => {
    const e = env!;
    const token = await e.serviceAccountToken('smoke', 'reader');
    const denied = await e.request('GET', '/api/v1/namespaces/smoke/pods/web/log', { token });
    expect(denied.status).toBe(403);
    await e.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'log-reader', namespace: 'smoke' },
          rules: [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'log-reader', namespace: 'smoke' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'log-reader' },
          subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'smoke' }] },
      ],
    }));
    // RBAC is served from an informer cache: the binding takes effect shortly after the write.
    let allowed = await e.request('GET', '/api/v1/namespaces/smoke/pods/web/log', { token });
    for (let i = 0; i < 50 && allowed.status === 403; i++) {
      await new Promise((r) => setTimeout(r, 100));
      allowed = await e.request('GET', '/api/v1/namespaces/smoke/pods/web/log', { token });
    }
    expect(allowed.status).toBe(200);
    expect(allowed.body).toContain('first line');
    const otherNs = await e.request('GET', '/api/v1/namespaces/default/pods', { token });
    expect(otherNs.status).toBe(403);
  });

  it('comes back after restartApiserver() with its data', async () => {
    const e = env!;
    await e.restartApiserver();
    const pod = await e.api<{ status: { phase: string } }>('GET', '/api/v1/namespaces/smoke/pods/web');
    expect(pod.status.phase).toBe('Running');
  });
});
