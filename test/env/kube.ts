/**
 * A real, small Kubernetes control plane for e2e tests: etcd + kube-apiserver (RBAC enforced) + kwok
 * (fake nodes/pods whose logs are CRI files the test appends to), all on 127.0.0.1 with free ports
 * and one temp dir. No kube-controller-manager or scheduler: pods are bound with spec.nodeName.
 */
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { binaries, envDir, kwokCrdFiles, requireBinary, type Binaries } from './binaries.ts';
import { ensureOrThrow } from './ensure.ts';
import { httpCall, httpStream, type HttpResponse, type HttpStream } from './http.ts';
import { freePort, freePorts } from './ports.ts';
import { managedProcess, type ManagedProcess } from './process.ts';

export { appendCriLines, criLine, type CriLine } from './cri.ts';

export interface ServerControl {
  stop(): Promise<void>;
  /** SIGKILL (outage tests). */
  kill(): Promise<void>;
  /** Start again with the same ports and data. */
  start(): Promise<void>;
  restart(): Promise<void>;
  logFile: string;
}

export interface PodInput {
  name: string;
  namespace?: string;
  /** Node to bind to (no scheduler runs). Default: the first node created by createNode(). */
  node?: string;
  containers?: { name: string; image?: string }[];
  initContainers?: { name: string; image?: string }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Record<string, unknown>[];
  /** Wait until kwok reports phase Running (default true). */
  waitRunning?: boolean;
}

export interface PodLogFiles {
  logsFile: string;
  previousLogsFile?: string;
  /** Containers these files serve; empty/absent = every container of the pod. */
  containers?: string[];
}

export interface RequestOptions {
  /** Bearer token; default the admin token. Pass '' for an anonymous request. */
  token?: string;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export interface KubeEnv {
  /** https://127.0.0.1:<port> */
  server: string;
  /** CA that signed the apiserver serving certificate. */
  caFile: string;
  ca: string;
  adminKubeconfig: string;
  /** Static token of user "admin" in group system:masters. */
  adminToken: string;
  dir: string;
  etcd: ServerControl & { url: string };
  apiserver: ServerControl;
  kwok: ServerControl & { port: number };
  /** Stop everything and remove the temp dir. */
  stop(): Promise<void>;
  restartApiserver(): Promise<void>;
  /** Raw request against the apiserver; never throws on HTTP status. */
  request(method: string, path: string, opts?: RequestOptions): Promise<HttpResponse>;
  /** Long-lived GET (watch, pods/log?follow=true) observed while open; as admin unless opts.token. */
  stream(path: string, opts?: { token?: string }): Promise<HttpStream>;
  /** JSON request as admin (or opts.token); throws on non-2xx with the status in the message. */
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  /** Runs the matching kubectl with the admin kubeconfig; returns stdout; throws with stderr on failure. */
  kubectl(args: string[], input?: string): Promise<string>;
  createNamespace(name: string): Promise<void>;
  /** Creates a kwok-managed node and waits until it is Ready. */
  createNode(name: string, labels?: Record<string, string>): Promise<Record<string, unknown>>;
  createPod(input: PodInput): Promise<Record<string, unknown>>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** Creates or replaces the kwok Logs object of the pod (same name/namespace). Files must be absolute. */
  setPodLogs(namespace: string, pod: string, files: PodLogFiles | PodLogFiles[]): Promise<void>;
  /** Creates the ServiceAccount when missing and returns a fresh bound token (TokenRequest API). */
  serviceAccountToken(namespace: string, sa: string, expirationSeconds?: number): Promise<string>;
  /** Writes a kubeconfig for `token` (e.g. a ServiceAccount token) and returns its path. */
  writeKubeconfig(token: string, name?: string): Promise<string>;
  /**
   * A ClusterRole (default: what the manifests ship, get/list/watch on pods, pods/log and events)
   * bound to ServiceAccount `namespace/name`; waits until a GET of `probe` with its token is allowed,
   * and returns the token.
   */
  grantClusterRole(o: { role: string; namespace: string; serviceAccount: string; probe: string; rules?: readonly RbacRule[] }): Promise<string>;
}

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The detector's RBAC as `manifests/base/rbac.yaml` ships it. */
export const DETECTOR_RULES: readonly RbacRule[] = [{ apiGroups: [''], resources: ['pods', 'pods/log', 'events'], verbs: ['get', 'list', 'watch'] }];

export interface KubeOptions {
  /** Extra kube-apiserver flags (e.g. --event-ttl=5m). */
  apiserverArgs?: string[];
  readyTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway CA and a serving cert for 127.0.0.1/localhost (node:crypto cannot sign X.509). */
function makeServingCert(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3', '-subj', '/CN=robot-sre-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
  const ext = 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default.svc\n'
    + 'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  execFileSync('sh', ['-c', `cat > apiserver.ext <<'X'\n${ext}X`], { cwd: dir });
  openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'apiserver.crt', '-days', '3', '-extfile', 'apiserver.ext'], dir);
  return { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'apiserver.crt'), keyFile: join(dir, 'apiserver.key') };
}

function kubeconfigYaml(server: string, caFile: string, token: string, user: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user } }],
    'current-context': 'test',
  });
}

function control(p: ManagedProcess): ServerControl {
  return { stop: p.stop, kill: p.kill, start: p.start, restart: p.restart, logFile: p.logFile };
}

async function ensureKubeBinaries(): Promise<Binaries> {
  for (const c of ['etcd', 'kube', 'kwok'] as const) {
    const b = binaries();
    const present = c === 'etcd' ? b.etcd.path : c === 'kube' ? b.kubeApiserver.path && b.kubectl.path : b.kwok.path;
    if (!present) await ensureOrThrow(c);
  }
  return binaries();
}

export async function startKube(opts: KubeOptions = {}): Promise<KubeEnv> {
  const b = await ensureKubeBinaries();
  const etcdBin = requireBinary(b.etcd);
  const apiserverBin = requireBinary(b.kubeApiserver);
  const kubectlBin = requireBinary(b.kubectl);
  const kwokBin = requireBinary(b.kwok);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;

  const dir = await mkdtemp(join(tmpdir(), 'rsd-kube-'));
  const started: ManagedProcess[] = [];
  try {
    const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
    if (etcdClient === undefined || etcdPeer === undefined || apiPort === undefined) throw new Error('no ports');
    const server = `https://127.0.0.1:${apiPort}`;

    const { caFile, certFile, keyFile } = makeServingCert(dir);
    const ca = readFileSync(caFile, 'utf8');
    // Service-account signing keys per run: tokens from another run must never validate here.
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    await writeFile(saKey, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    const kwokToken = randomBytes(24).toString('hex');
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n${kwokToken},kwok-controller,kwok-uid,"system:masters"\n`);
    const adminKubeconfig = join(dir, 'admin.kubeconfig');
    await writeFile(adminKubeconfig, kubeconfigYaml(server, caFile, adminToken, 'admin'));
    const kwokKubeconfig = join(dir, 'kwok.kubeconfig');
    await writeFile(kwokKubeconfig, kubeconfigYaml(server, caFile, kwokToken, 'kwok-controller'));

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = managedProcess({
      name: 'etcd',
      command: etcdBin,
      args: [
        '--name=rsd', `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=rsd=http://127.0.0.1:${etcdPeer}`,
        // Test data is disposable; fsync per write only makes the suite slow.
        '--unsafe-no-fsync', '--log-level=warn',
      ],
      logFile: join(dir, 'etcd.log'),
      ready: { url: `${etcdUrl}/health`, bodyMatches: /"health":\s*"true"/ },
      readyTimeoutMs,
    });
    await etcd.start();
    started.push(etcd);

    const authz = { headers: { Authorization: `Bearer ${adminToken}` }, ca };
    const apiserver = managedProcess({
      name: 'kube-apiserver',
      command: apiserverBin,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${certFile}`, `--tls-private-key-file=${keyFile}`,
        `--client-ca-file=${caFile}`,
        `--token-auth-file=${tokenFile}`,
        '--authorization-mode=Node,RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`, `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        // kwok fills InternalIP=127.0.0.1; the default order would try the Hostname first.
        '--kubelet-preferred-address-types=InternalIP',
        // No controller-manager creates the per-namespace "default" ServiceAccount, so this admission
        // plugin would reject every pod; kwok pods do not need token volumes.
        '--disable-admission-plugins=ServiceAccount',
        '--profiling=false',
        // Without it a SIGTERM waits for kwok's (and the collector's) open watches until SIGKILL;
        // with it the watches are closed within ~1 s, as in a real apiserver rollout.
        '--shutdown-watch-termination-grace-period=2s',
        ...(opts.apiserverArgs ?? []),
      ],
      logFile: join(dir, 'kube-apiserver.log'),
      ready: { url: `${server}/readyz`, http: authz },
      readyTimeoutMs,
      stopTimeoutMs: 15_000,
    });
    await apiserver.start();
    started.push(apiserver);

    const request = async (method: string, path: string, o: RequestOptions = {}): Promise<HttpResponse> => {
      const token = o.token ?? adminToken;
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
        headers['Content-Type'] = o.contentType ?? 'application/json';
      }
      return httpCall(`${server}${path}`, { method, headers, body, ca, timeoutMs: o.timeoutMs ?? 30_000 });
    };
    const api = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown, o: RequestOptions = {}): Promise<T> => {
      const res = await request(method, path, { ...o, body });
      if (res.status < 200 || res.status > 299) {
        const err = new Error(`${method} ${path}: HTTP ${res.status}: ${res.body.slice(0, 500)}`) as Error & { status: number };
        err.status = res.status;
        throw err;
      }
      return (res.body ? JSON.parse(res.body) : {}) as T;
    };
    const status = (e: unknown): number | undefined => (e as { status?: number }).status;

    // kwok serves Logs/ClusterLogs from the API (--enable-crds), so their CRDs must exist first.
    for (const file of kwokCrdFiles()) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        const crd = doc.toJS() as Record<string, unknown> | null;
        if (crd) await api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      }
    }
    for (const plural of ['logs', 'clusterlogs']) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const crd = await api<{ status?: { conditions?: { type: string; status: string }[] } }>(
          'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.kwok.x-k8s.io`);
        if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (Date.now() > deadline) throw new Error(`CRD ${plural}.kwok.x-k8s.io not established`);
        await sleep(100);
      }
    }
    // Discovery of a new CRD lags behind Established; kwok's informers fail hard without it.
    {
      const deadline = Date.now() + 30_000;
      while ((await request('GET', '/apis/kwok.x-k8s.io/v1alpha1')).status !== 200) {
        if (Date.now() > deadline) throw new Error('kwok.x-k8s.io/v1alpha1 never appeared in discovery');
        await sleep(100);
      }
    }

    // kwok's port is taken just before it starts (seconds after the others: an outgoing connection of
    // another test could have been handed it meanwhile), and taken again when the bind still loses.
    let kwokPort = 0;
    let kwok: ManagedProcess | undefined;
    for (let attempt = 1; !kwok; attempt++) {
      kwokPort = await freePort();
      const p = managedProcess({
        name: 'kwok',
        command: kwokBin,
        args: [
          `--kubeconfig=${kwokKubeconfig}`,
          '--manage-all-nodes=true',
          '--node-ip=127.0.0.1', `--node-port=${kwokPort}`, `--server-address=127.0.0.1:${kwokPort}`,
          `--config=${join(envDir, 'kwok', 'stages.yaml')}`,
          '--enable-crds=Logs,ClusterLogs',
        ],
        logFile: join(dir, 'kwok.log'),
        // cmux on the port: plain HTTP reaches the same handlers as the apiserver's TLS connection.
        ready: { url: `http://127.0.0.1:${kwokPort}/healthz` },
        readyTimeoutMs,
      });
      try {
        await p.start();
        kwok = p;
      } catch (err) {
        if (attempt >= 3 || !String(err).includes('address already in use')) throw err;
      }
    }
    started.push(kwok);

    let firstNode: string | undefined;

    const createNamespace = async (name: string): Promise<void> => {
      try {
        await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      } catch (e) {
        if (status(e) !== 409) throw e;
      }
    };

    const waitFor = async <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      let last: T | undefined;
      for (;;) {
        last = await get();
        if (ok(last)) return last;
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last).slice(0, 800)}\n--- kwok log ---\n${kwok.tail(2000)}`);
        }
        await sleep(100);
      }
    };

    type Obj = Record<string, unknown> & { status?: { phase?: string; conditions?: { type: string; status: string }[] } };

    const env: KubeEnv = {
      server,
      caFile,
      ca,
      adminKubeconfig,
      adminToken,
      dir,
      etcd: { ...control(etcd), url: etcdUrl },
      apiserver: control(apiserver),
      kwok: { ...control(kwok), port: kwokPort },
      async stop() {
        // Reverse order: kwok and apiserver first so nothing logs connection errors to a dead etcd.
        for (const p of [...started].reverse()) await p.stop();
        await rm(dir, { recursive: true, force: true });
      },
      restartApiserver: () => apiserver.restart(),
      request,
      api,
      stream(path: string, o: { token?: string } = {}) {
        const token = o.token ?? adminToken;
        return httpStream(`${server}${path}`, { ca, headers: token ? { Authorization: `Bearer ${token}` } : {} });
      },
      async kubectl(args: string[], input?: string): Promise<string> {
        return new Promise((resolve, reject) => {
          const child = spawn(kubectlBin, [`--kubeconfig=${adminKubeconfig}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.once('error', reject);
          child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${err}`))));
          child.stdin.end(input ?? '');
        });
      },
      createNamespace,
      async createNode(name: string, labels: Record<string, string> = {}) {
        await api('POST', '/api/v1/nodes', {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name,
            annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
            labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok', ...labels },
          },
          spec: { taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }] },
        });
        firstNode ??= name;
        return waitFor(`node ${name} Ready`, () => api<Obj>('GET', `/api/v1/nodes/${name}`),
          (n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
      },
      async createPod(input: PodInput) {
        const ns = input.namespace ?? 'default';
        const node = input.node ?? firstNode;
        if (!node) throw new Error('createPod: no node (call createNode first or pass node)');
        await createNamespace(ns);
        const container = (c: { name: string; image?: string }): Record<string, unknown> => ({ name: c.name, image: c.image ?? 'registry.example/app:1' });
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: input.name,
            namespace: ns,
            labels: input.labels,
            annotations: input.annotations,
            ownerReferences: input.ownerReferences,
          },
          spec: {
            nodeName: node,
            containers: (input.containers ?? [{ name: 'app' }]).map(container),
            initContainers: input.initContainers?.map(container),
            tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
          },
        };
        await api('POST', `/api/v1/namespaces/${ns}/pods`, pod);
        if (input.waitRunning === false) return api<Obj>('GET', `/api/v1/namespaces/${ns}/pods/${input.name}`);
        return waitFor(`pod ${ns}/${input.name} Running`, () => api<Obj>('GET', `/api/v1/namespaces/${ns}/pods/${input.name}`),
          (p) => p.status?.phase === 'Running');
      },
      async deletePod(namespace: string, name: string) {
        try {
          await api('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`);
        } catch (e) {
          if (status(e) !== 404) throw e;
          return;
        }
        await waitFor(`pod ${namespace}/${name} gone`, () => request('GET', `/api/v1/namespaces/${namespace}/pods/${name}`), (r) => r.status === 404);
      },
      async setPodLogs(namespace: string, pod: string, files: PodLogFiles | PodLogFiles[]) {
        const list = Array.isArray(files) ? files : [files];
        const logs = list.map((f) => ({
          ...(f.containers?.length ? { containers: f.containers } : {}),
          logsFile: f.logsFile,
          ...(f.previousLogsFile ? { previousLogsFile: f.previousLogsFile } : {}),
          follow: true,
        }));
        const path = `/apis/kwok.x-k8s.io/v1alpha1/namespaces/${namespace}/logs`;
        const obj = { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'Logs', metadata: { name: pod, namespace }, spec: { logs } };
        const cur = await request('GET', `${path}/${pod}`);
        if (cur.status === 200) {
          const rv = (JSON.parse(cur.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
          await api('PUT', `${path}/${pod}`, { ...obj, metadata: { ...obj.metadata, resourceVersion: rv } });
        } else {
          await api('POST', path, obj);
        }
        // kwok learns about the object through a watch; wait until its log endpoint knows the pod.
        // (An absent file is fine: the request then fails with a file error, not "no logs found".)
        const probe = `/api/v1/namespaces/${namespace}/pods/${pod}/log?limitBytes=1${list[0]?.containers?.[0] ? `&container=${list[0].containers[0]}` : ''}`;
        await waitFor(`kwok to serve logs of ${namespace}/${pod}`, () => request('GET', probe),
          (r) => r.status === 200 || !/no logs found|log target not found/.test(r.body), 15_000);
      },
      async serviceAccountToken(namespace: string, saName: string, expirationSeconds = 3600) {
        await createNamespace(namespace);
        try {
          await api('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: saName, namespace } });
        } catch (e) {
          if (status(e) !== 409) throw e;
        }
        const tr = await api<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${saName}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds },
        });
        return tr.status.token;
      },
      async grantClusterRole(o) {
        await createNamespace(o.namespace);
        await this.kubectl(['apply', '-f', '-'], JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: o.role }, rules: o.rules ?? DETECTOR_RULES },
            { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: o.role }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: o.role }, subjects: [{ kind: 'ServiceAccount', name: o.serviceAccount, namespace: o.namespace }] },
          ],
        }));
        const token = await this.serviceAccountToken(o.namespace, o.serviceAccount);
        await waitFor(`RBAC of ${o.role} effective`, () => request('GET', o.probe, { token }), (r) => r.status === 200, 30_000);
        return token;
      },
      async writeKubeconfig(token: string, name = `user-${randomBytes(4).toString('hex')}`) {
        const file = join(dir, `${name}.kubeconfig`);
        await writeFile(file, kubeconfigYaml(server, caFile, token, name));
        return file;
      },
    };
    return env;
  } catch (err) {
    for (const p of [...started].reverse()) await p.kill().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
