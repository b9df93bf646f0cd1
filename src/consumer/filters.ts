/**
 * Turn "these namespaces × these incident types × these events" into consumer subject filters.
 *
 * nats-server < 2.10 (Debian's 2.9.10 among them) allows one filter_subject per consumer. With a
 * single value per dimension the server filters exactly. With several values on such a server we
 * filter the widest dimension with `*` on the server and check the rest here; messages that do
 * not match are acknowledged without calling the handler. On 2.10+ every combination becomes one
 * entry of filter_subjects (up to MAX_SERVER_FILTERS) and the server does all the work.
 */
import type { FindingStatus } from '../model/finding.ts';
import { FINDINGS_SUBJECT_ROOT, findingFilterSubject, subjectToken } from '../nats/envelope.ts';

export interface FindingSelector {
  namespaces?: readonly string[];
  incidentTypes?: readonly string[];
  events?: readonly FindingStatus[];
}

export interface FilterPlan {
  /** One entry → filter_subject; several → filter_subjects (server ≥ 2.10 only). */
  serverFilters: string[];
  /** Null when the server filters exactly. */
  clientMatch: ((subject: string) => boolean) | null;
}

export const MAX_SERVER_FILTERS = 64;

const uniq = (v: readonly string[] | undefined): string[] | undefined =>
  v && v.length ? [...new Set(v.map((x) => subjectToken(x)))] : undefined;

export function planFilters(sel: FindingSelector, multiFilter: boolean): FilterPlan {
  const ev = uniq(sel.events);
  const ns = uniq(sel.namespaces);
  const ty = uniq(sel.incidentTypes);
  const combos: string[] = [];
  for (const e of ev ?? ['*']) {
    for (const n of ns ?? ['*']) {
      for (const t of ty ?? ['*']) combos.push(`${FINDINGS_SUBJECT_ROOT}.${e}.${n}.${t}`);
    }
  }
  if (combos.length === 1) return { serverFilters: combos, clientMatch: null };
  if (multiFilter && combos.length <= MAX_SERVER_FILTERS) return { serverFilters: combos, clientMatch: null };
  const one = (v: string[] | undefined): string | undefined => (v && v.length === 1 ? v[0] : undefined);
  const server = findingFilterSubject({
    ...(one(ev) ? { event: one(ev) as FindingStatus } : {}),
    ...(one(ns) ? { namespace: one(ns) as string } : {}),
    ...(one(ty) ? { incidentType: one(ty) as string } : {}),
  });
  const sets = [ev, ns, ty].map((v) => (v ? new Set(v) : null));
  const clientMatch = (subject: string): boolean => {
    // ops.findings.<event>.<namespace>.<type>
    const tokens = subject.split('.').slice(2);
    return sets.every((s, i) => s === null || s.has(tokens[i] ?? ''));
  };
  return { serverFilters: [server], clientMatch };
}

/** True when the server accepts several filter_subjects on one consumer (nats-server ≥ 2.10). */
export function supportsMultiFilter(version: string | undefined): boolean {
  const [maj, min] = (version ?? '0.0.0').split('.').map((x) => Number.parseInt(x, 10));
  return (maj ?? 0) > 2 || ((maj ?? 0) === 2 && (min ?? 0) >= 10);
}
