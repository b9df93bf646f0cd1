import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inClusterConnection, kubeconfigConnection, loadConnection } from '../../src/sources/kube/kubeconfig.ts';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'rsd-kc-'));
}

function kubeconfig(d: string, user: string, cluster = 'server: https://10.0.0.1:6443, certificate-authority: ca.crt'): string {
  const f = join(d, 'config');
  writeFileSync(
    f,
    `apiVersion: v1
kind: Config
current-context: a
contexts:
- {name: a, context: {cluster: c, user: u}}
- {name: b, context: {cluster: c, user: other}}
clusters:
- {name: c, cluster: {${cluster}}}
users:
- {name: u, user: {${user}}}
- {name: other, user: {token: other-token}}
`,
  );
  return f;
}

describe('kubeconfig loading without client-node', () => {
  it('reads server, CA (relative to the file), token and the chosen context', async () => {
    const d = dir();
    writeFileSync(join(d, 'ca.crt'), 'CA PEM');
    const c = kubeconfigConnection(kubeconfig(d, 'token: abc'))!;
    expect(c.server).toBe('https://10.0.0.1:6443');
    expect(c.tls.ca?.toString()).toBe('CA PEM');
    expect(await c.headers()).toEqual({ authorization: 'Bearer abc' });
    const b = kubeconfigConnection(kubeconfig(d, 'token: abc'), 'b')!;
    expect(await b.headers()).toEqual({ authorization: 'Bearer other-token' });
  });

  it('reads client certificates and data fields, and honours insecure-skip-tls-verify', () => {
    const d = dir();
    const data = Buffer.from('CERT').toString('base64');
    writeFileSync(join(d, 'k.pem'), 'KEY');
    const c = kubeconfigConnection(kubeconfig(d, `client-certificate-data: ${data}, client-key: k.pem`, 'server: https://h:1, insecure-skip-tls-verify: true, tls-server-name: api'))!;
    expect(c.tls.cert?.toString()).toBe('CERT');
    expect(c.tls.key?.toString()).toBe('KEY');
    expect(c.tls.rejectUnauthorized).toBe(false);
    expect(c.tls.servername).toBe('api');
  });

  it('re-reads a token file (bound ServiceAccount tokens rotate)', async () => {
    const d = dir();
    writeFileSync(join(d, 'tok'), 'one\n');
    const c = kubeconfigConnection(kubeconfig(d, 'tokenFile: tok', 'server: https://h:1'))!;
    expect(await c.headers()).toEqual({ authorization: 'Bearer one' });
  });

  it('hands exec plugins and auth providers to client-node', async () => {
    const d = dir();
    const f = kubeconfig(d, 'exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true}', 'server: https://h:1');
    expect(kubeconfigConnection(f)).toBeNull();
    const c = await loadConnection({ kubeconfigPath: f });
    expect(c.describe).toMatch(/client-node/);
    expect(c.server).toBe('https://h:1');
  });

  it('builds the in-cluster connection from the ServiceAccount mount and the service env', async () => {
    const d = dir();
    writeFileSync(join(d, 'token'), 'sa-token');
    writeFileSync(join(d, 'ca.crt'), 'CA');
    const c = inClusterConnection(d, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' });
    expect(c.server).toBe('https://[fd00::1]:443');
    expect(await c.headers()).toEqual({ authorization: 'Bearer sa-token' });
    expect(() => inClusterConnection(d, {})).toThrow(/KUBERNETES_SERVICE_HOST/);
  });

  it('says which context is missing', () => {
    const d = dir();
    expect(() => kubeconfigConnection(kubeconfig(d, 'token: x', 'server: https://h:1'), 'nope')).toThrow(/context "nope" not found/);
  });
});
