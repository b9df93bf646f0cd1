import { createHash } from 'node:crypto';
import stableStringify from 'fast-json-stable-stringify';

const h = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 24);

/** Stable across replicas and restarts: rule + scope only. */
export function dedupeKey(ruleId: string, scopeLevel: string, scopeKey: string): string {
  return h(stableStringify({ rule: ruleId, scope_level: scopeLevel, scope: scopeKey }));
}

/**
 * One id per lifecycle step of one episode. Replicas that see the same records derive the same
 * id, and it doubles as the JetStream Nats-Msg-Id, so the duplicate window swallows repeats.
 */
export function findingId(dedupe: string, firstSeen: string, status: string, severity: string, observedAt: string): string {
  return h(stableStringify({ dedupe, first_seen: firstSeen, status, severity, observed_at: observedAt }));
}
