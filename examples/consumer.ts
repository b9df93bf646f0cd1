/**
 * A small Robot SRE-like consumer: follows findings from JetStream with a durable consumer,
 * keeps a bounded board of open incidents (observed until recovered), and hands critical ones
 * to an "approval" step. If that step fails, the finding is nak'ed and comes back with backoff.
 *
 *   NATS_URL=nats://127.0.0.1:4222 npx node examples/consumer.ts [--namespace shop] [--type oom_killed]
 *
 * Auth comes from the usual variables: NATS_TOKEN, NATS_USER/NATS_PASSWORD, NATS_NKEY, NATS_CREDS,
 * NATS_CA/NATS_CERT/NATS_KEY.
 */
import { parseArgs } from 'node:util';
import { LRUCache } from 'lru-cache';
import { subscribeFindings, SEVERITY_ORDER, type Finding } from 'robot-sre-detector/consumer';
import { natsOptionsFromFlags } from '../src/nats/connection.ts';

const { values } = parseArgs({
  options: {
    namespace: { type: 'string', multiple: true },
    type: { type: 'string', multiple: true },
    durable: { type: 'string', default: 'robot-sre-example' },
  },
});

// Open incidents by dedupe_key: bounded, like every per-key structure should be.
const open = new LRUCache<string, Finding>({ max: 10_000 });

async function requestApproval(f: Finding): Promise<void> {
  // Stand-in for the real approval flow (chat-ops, ticket, …). Fails now and then to show nak.
  if (Math.random() < 0.1) throw new Error('approval service unavailable');
  console.log(`  → approval requested for ${f.incident_type} in ${f.resource_scope.namespace} (Loki: ${f.evidence.loki.query})`);
}

const sub = await subscribeFindings({
  nats: natsOptionsFromFlags({}, process.env, 'robot-sre-example'),
  durable: values.durable,
  ...(values.namespace ? { namespaces: values.namespace } : {}),
  ...(values.type ? { incidentTypes: values.type } : {}),
  maxDeliver: 5,
  ackWaitMs: 30_000,
  nakBackoffMs: [1_000, 5_000, 30_000],
  handler: async (f, ctx) => {
    const where = `${f.resource_scope.namespace}/${f.resource_scope.workload ?? f.resource_scope.pod ?? f.resource_scope.name ?? '-'}`;
    if (f.status === 'recovered') {
      open.delete(f.dedupe_key);
      console.log(`[recovered] ${f.incident_type} ${where} (open: ${open.size})`);
      return; // returning acks
    }
    const again = open.has(f.dedupe_key);
    open.set(f.dedupe_key, f);
    console.log(`[${f.severity}] ${f.incident_type} ${where}: ${f.summary}${again ? ' (update)' : ''} delivery #${ctx.deliveryCount}`);
    if (SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER.critical && !again) await requestApproval(f); // throwing naks with backoff
  },
  onDeadLetter: (f, err) => console.error(`gave up on ${f.finding_id}: ${(err as Error).message}`),
});

console.log(`consuming findings as durable "${sub.durable}" (filters: ${sub.serverFilters.join(', ')}); Ctrl-C to stop`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void sub.stop().then(() => console.log('stopped'));
  });
}
await sub.closed;
