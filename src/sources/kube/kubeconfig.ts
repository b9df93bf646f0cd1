import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';

/**
 * Where and how to reach the API server. The common cases — in-cluster ServiceAccount, kubeconfig with a
 * token, token file or client certificate — are read here directly: importing @kubernetes/client-node costs
 * ~80 MiB of RSS and most of a second of startup (it loads every generated API model), which is a large
 * share of a small detector. Kubeconfigs that need exec plugins or auth providers (cloud logins, OIDC) are
 * handed to client-node, loaded only then.
 */
export interface Connection {
  server: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string };
  /** Per-request auth headers (token files rotate; exec credentials expire). */
  headers(): Promise<Record<string, string>>;
  /** What was loaded, for the startup log (never secrets). */
  describe: string;
}

export interface ConnectionOptions {
  kubeconfigPath?: string;
  inCluster?: boolean;
  context?: string;
  /** An already loaded client-node KubeConfig (tests). */
  kubeConfig?: KubeConfig;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;

function tokenFileReader(file: string): () => string {
  let token = '';
  let readAt = 0;
  return () => {
    if (Date.now() - readAt > TOKEN_REREAD_MS || !token) {
      token = readFileSync(file, 'utf8').trim();
      readAt = Date.now();
    }
    return token;
  };
}

export function inClusterConnection(dir = SA_DIR, env: NodeJS.ProcessEnv = process.env): Connection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('in-cluster config: KUBERNETES_SERVICE_HOST is not set (not running in a pod?)');
  const h = host.includes(':') ? `[${host}]` : host;
  const token = tokenFileReader(join(dir, 'token'));
  return {
    server: `https://${h}:${port}`,
    tls: { ca: readFileSync(join(dir, 'ca.crt')) },
    headers: async () => ({ authorization: `Bearer ${token()}` }),
    describe: `in-cluster ServiceAccount (${h}:${port})`,
  };
}

type Named<T> = { name: string } & T;
interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Named<{ context: { cluster: string; user: string } }>[];
  clusters?: Named<{ cluster: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

function str(o: Record<string, unknown> | undefined, k: string): string | undefined {
  const v = o?.[k];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Parses a kubeconfig file; null when it needs client-node (exec plugin, auth provider). */
export function kubeconfigConnection(path: string, context?: string): Connection | null {
  const cfg = (parse(readFileSync(path, 'utf8')) ?? {}) as KubeconfigFile;
  const base = dirname(path);
  const file = (p: string): Buffer => readFileSync(isAbsolute(p) ? p : join(base, p));
  const ctxName = context ?? cfg['current-context'];
  const ctx = cfg.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: context "${ctxName}" not found`);
  const cluster = cfg.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig ${path}: cluster "${ctx.cluster}" not found`);
  const user = cfg.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) return null;
  if (str(cluster, 'proxy-url')) throw new Error(`kubeconfig ${path}: proxy-url is not supported by the kube source`);
  const server = str(cluster, 'server');
  if (!server) throw new Error(`kubeconfig ${path}: cluster "${ctx.cluster}" has no server`);
  const tls: Connection['tls'] = {};
  const caData = str(cluster, 'certificate-authority-data');
  const caFile = str(cluster, 'certificate-authority');
  if (caData) tls.ca = Buffer.from(caData, 'base64');
  else if (caFile) tls.ca = file(caFile);
  if (cluster['insecure-skip-tls-verify'] === true) tls.rejectUnauthorized = false;
  const sn = str(cluster, 'tls-server-name');
  if (sn) tls.servername = sn;
  const certData = str(user, 'client-certificate-data');
  const certFile = str(user, 'client-certificate');
  const keyData = str(user, 'client-key-data');
  const keyFile = str(user, 'client-key');
  if (certData) tls.cert = Buffer.from(certData, 'base64');
  else if (certFile) tls.cert = file(certFile);
  if (keyData) tls.key = Buffer.from(keyData, 'base64');
  else if (keyFile) tls.key = file(keyFile);
  const token = str(user, 'token');
  const tokenFile = str(user, 'tokenFile');
  const username = str(user, 'username');
  const readToken = tokenFile ? tokenFileReader(isAbsolute(tokenFile) ? tokenFile : join(base, tokenFile)) : null;
  const basic = username ? `Basic ${Buffer.from(`${username}:${str(user, 'password') ?? ''}`).toString('base64')}` : null;
  return {
    server,
    tls,
    headers: async (): Promise<Record<string, string>> => {
      if (token) return { authorization: `Bearer ${token}` };
      if (readToken) return { authorization: `Bearer ${readToken()}` };
      if (basic) return { authorization: basic };
      return {};
    },
    describe: `kubeconfig ${path} (context ${ctxName})`,
  };
}

/** Through client-node: exec plugins, auth providers, merged $KUBECONFIG lists. */
export function clientNodeConnection(kc: KubeConfig, describe: string): Connection {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  if (cluster.proxyUrl) throw new Error('kubeconfig proxy-url is not supported by the kube source');
  const tls: Connection['tls'] = {};
  let tlsReady = false;
  const conn: Connection = {
    server: cluster.server,
    tls,
    headers: async () => {
      const opts: { headers?: Record<string, unknown>; ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string } = {};
      await kc.applyToHTTPSOptions(opts as never);
      if (!tlsReady) {
        tlsReady = true;
        for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) if (opts[k] !== undefined) (tls as Record<string, unknown>)[k] = opts[k];
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = String(v);
      const user = kc.getCurrentUser();
      if (user?.username && !headers.authorization) headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
      return headers;
    },
    describe,
  };
  return conn;
}

async function viaClientNode(opts: ConnectionOptions, path: string | undefined): Promise<Connection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (opts.inCluster) kc.loadFromCluster();
  else if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  return clientNodeConnection(kc, `client-node ${path ?? 'default config'}`);
}

/** Same search order as kubectl: explicit path, $KUBECONFIG, ~/.kube/config, then in-cluster. */
export async function loadConnection(opts: ConnectionOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  if (opts.kubeConfig) return clientNodeConnection(opts.kubeConfig, 'provided KubeConfig');
  if (opts.inCluster) return inClusterConnection(SA_DIR, env);
  let path = opts.kubeconfigPath;
  if (!path && env.KUBECONFIG) {
    const list = env.KUBECONFIG.split(process.platform === 'win32' ? ';' : ':').filter(Boolean);
    if (list.length > 1) return viaClientNode(opts, undefined); // merging belongs to client-node
    path = list[0];
  }
  if (!path) {
    const home = join(homedir(), '.kube', 'config');
    if (existsSync(home)) path = home;
  }
  if (!path) {
    if (existsSync(join(SA_DIR, 'token'))) return inClusterConnection(SA_DIR, env);
    throw new Error('no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not running in a pod');
  }
  return kubeconfigConnection(path, opts.context) ?? viaClientNode(opts, path);
}
