/**
 * Writes samples/incident.ndjson: 40 minutes of a small shop cluster — ordinary traffic with near
 * misses, then a NATS outage, LDAP timeouts, a bad image tag, an OOM kill, a node running out of
 * disk and an error spike — deterministic (seeded), so the sample and its findings never drift.
 *   node scripts/make-sample.ts > samples/incident.ndjson
 */
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
const start = Date.parse('2026-11-20T09:00:00Z');
const out: Array<{ t: number; rec: Record<string, unknown> }> = [];
const iso = (t: number) => new Date(t).toISOString().replace('Z', '000000Z').replace(/\.(\d{3})000000Z$/, '.$1000000Z');

const pods = {
  web: { namespace: 'shop', pod: 'web-7d4b9c-x2k4p', container: 'web', node: 'node-a', workload: 'web' },
  api: { namespace: 'shop', pod: 'api-5f6c8d-q9w2e', container: 'api', node: 'node-b', workload: 'api' },
  worker: { namespace: 'shop', pod: 'worker-6b7d-l3m4n', container: 'worker', node: 'node-a', workload: 'worker' },
  auth: { namespace: 'auth', pod: 'auth-84c9f-r5t6y', container: 'auth', node: 'node-b', workload: 'auth' },
  nats: { namespace: 'nats', pod: 'nats-0', container: 'nats', node: 'node-a', workload: 'nats' },
} as const;

function log(t: number, p: keyof typeof pods, line: string) {
  out.push({ t, rec: { ts: iso(t), line, labels: { ...pods[p] } } });
}
function event(t: number, reason: string, message: string, obj: { kind: string; namespace: string; name: string }, node?: string, type = 'Warning', count = 1) {
  out.push({ t, rec: { kind: 'event', ts: iso(t), type, reason, message, count, involvedObject: obj, ...(node ? { source: { component: 'kubelet', host: node } } : {}) } });
}

const paths = ['/api/cart', '/api/products', '/api/checkout', '/', '/static/app.js', '/healthz'];
// 40 minutes of ordinary traffic.
for (let t = start; t < start + 40 * 60_000; t += 400 + Math.floor(rand() * 800)) {
  const path = pick(paths);
  log(t, 'web', `10.1.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)} - - "GET ${path} HTTP/1.1" 200 ${Math.floor(rand() * 5000)} "-" "Mozilla/5.0" rt=0.0${Math.floor(rand() * 90)}`);
  if (rand() < 0.5) log(t + 3, 'api', JSON.stringify({ level: 'info', ts: iso(t + 3), msg: 'request completed', path, status: 200, duration_ms: Math.floor(rand() * 120), trace_id: Math.floor(rand() * 1e16).toString(16) }));
  if (rand() < 0.2) log(t + 5, 'worker', `level=info msg="processed order" order_id=${Math.floor(rand() * 1e6)} items=${1 + Math.floor(rand() * 5)} took=${Math.floor(rand() * 300)}ms`);
  if (rand() < 0.1) log(t + 7, 'auth', `I1120 09:${String(Math.floor((t - start) / 60000) % 60).padStart(2, '0')}:00.000000       1 session.go:88] session refreshed user=u${Math.floor(rand() * 900)} ttl=3600s`);
  if (rand() < 0.05) log(t + 9, 'nats', `[1] ${iso(t + 9).slice(0, 23).replace('T', ' ')} [INF] 10.1.2.${Math.floor(rand() * 255)}:${40000 + Math.floor(rand() * 9999)} - cid:${Math.floor(rand() * 999)} - Client connection created`);
}
// Near misses that must stay quiet.
log(start + 60_000, 'api', 'config loaded: db.host=postgres.shop.svc timeout=30s retries=3 pool_size=10');
event(start + 61_000, 'Pulled', 'Successfully pulled image "shop/web:1.42.0" in 1.2s', { kind: 'Pod', namespace: 'shop', name: pods.web.pod }, 'node-a', 'Normal');
event(start + 62_000, 'Scheduled', 'Successfully assigned shop/web-7d4b9c-x2k4p to node-a', { kind: 'Pod', namespace: 'shop', name: pods.web.pod }, undefined, 'Normal');

// 09:12 — NATS pod fails its readiness probe, clients lose the connection (nats_outage).
for (let i = 0; i < 6; i++) event(start + 12 * 60_000 + i * 20_000, 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503', { kind: 'Pod', namespace: 'nats', name: 'nats-0' }, 'node-a');
for (let i = 0; i < 25; i++) log(start + 12 * 60_000 + 5_000 + i * 4_000, 'worker', `level=error msg="publish failed" err="nats: no servers available for connection" subject=orders.created attempt=${i + 1}`);

// 09:15 — LDAP behind auth times out repeatedly (identity_provider_unreachable).
for (let i = 0; i < 8; i++) log(start + 15 * 60_000 + i * 30_000, 'auth', `E1120 09:${15 + Math.floor(i / 2)}:${i % 2 ? '30' : '00'}.000000       1 ldap.go:142] LDAP bind failed: dial tcp 10.20.0.8:636: i/o timeout user=u${100 + i} password=hunter2`);

// 09:20 — a bad image tag in the rollout of web.
for (let i = 0; i < 3; i++) event(start + 20 * 60_000 + i * 30_000, 'Failed', 'Failed to pull image "shop/web:1.43.0-rc": rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/shop/web:1.43.0-rc": failed to resolve reference "docker.io/shop/web:1.43.0-rc": docker.io/shop/web:1.43.0-rc: not found', { kind: 'Pod', namespace: 'shop', name: 'web-8e5a1d-n7b8v' }, 'node-b');

// 09:24 — the api is OOM-killed and crash-loops.
out.push({ t: start + 24 * 60_000, rec: { ts: iso(start + 24 * 60_000), line: 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space', labels: { ...pods.api } } });
event(start + 24 * 60_000 + 2_000, 'BackOff', 'Back-off restarting failed container api in pod api-5f6c8d-q9w2e_shop(1f2e3d4c)', { kind: 'Pod', namespace: 'shop', name: pods.api.pod }, 'node-b', 'Warning', 4);

// 09:27 — node-a runs out of disk: pressure, image pull back-off, evictions (node_disk_exhaustion).
event(start + 27 * 60_000, 'NodeHasDiskPressure', 'Node node-a status is now: NodeHasDiskPressure', { kind: 'Node', namespace: 'default', name: 'node-a' }, 'node-a', 'Normal');
event(start + 27 * 60_000 + 30_000, 'BackOff', 'Back-off pulling image "shop/worker:2.1.0"', { kind: 'Pod', namespace: 'shop', name: 'worker-6b7d-p1q2r' }, 'node-a');
event(start + 27 * 60_000 + 45_000, 'Evicted', 'The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 4%.', { kind: 'Pod', namespace: 'shop', name: pods.worker.pod }, 'node-a');

// 09:30 — checkout errors spike (error_spike) with a TLS failure to the payment provider.
for (let i = 0; i < 240; i++) log(start + 30 * 60_000 + i * 250, 'api', JSON.stringify({ level: 'error', ts: iso(start + 30 * 60_000 + i * 250), msg: `payment call failed: Post "https://pay.example.com/v1/charge": x509: certificate has expired or is not yet valid`, order_id: 5000 + i, authorization: 'Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc' }));

out.sort((a, b) => a.t - b.t);
process.stdout.write(out.map((o) => JSON.stringify(o.rec)).join('\n') + '\n');
