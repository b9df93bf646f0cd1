/**
 * The evidence-bundle request a finding carries (`evidence.bundle`): what an agent sends to the
 * bundle server (POST /v1/bundles, docs/bundles.md) to get the logs, events and metrics behind the
 * finding. It is built from the episode's samples, so it names the pods (or host services) whose
 * lines raised the finding, never a guess from the scope alone.
 *
 * - Kubernetes: `target.pods` = the finding's pod, the pods of its evidence lines, and the involved
 *   Pod of an event-derived finding; previous-container logs on (a crash is usually there).
 * - A host without Kubernetes (records from `services:`, source `file`/`journal`): `target.kind:
 *   "services"` with the samples' `service_name`; events off (there are none).
 * - The window: 5 min before the first line to 1 min after the last, whole seconds, at most one hour
 *   (then the hour ending after the last line). A host bundle carries it only when a journal is among
 *   its sources: the server applies windows to journals only and refuses one for file-only services.
 * - Absent when no pod or service is known (node and cluster conditions).
 */
import type { BundlePodRef, BundleRequest, ResourceScope } from '../model/finding.ts';
import type { SourceKind } from '../model/log-record.ts';
import { MAX_BUNDLE_TARGETS, MAX_BUNDLE_WINDOW_SECONDS } from '../model/limits.ts';
import type { Sample } from './evidence.ts';

const LEAD_MS = 5 * 60_000;
const TRAIL_MS = 60_000;
const HOST_SOURCES: ReadonlySet<string> = new Set<SourceKind>(['file', 'journal']);

const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function bundleWindow(firstTs: number, lastTs: number): { start: string; end: string } {
  const end = Math.ceil((lastTs + TRAIL_MS) / 1000) * 1000;
  const start = Math.max(Math.floor((firstTs - LEAD_MS) / 1000) * 1000, end - MAX_BUNDLE_WINDOW_SECONDS * 1000);
  return { start: isoSeconds(start), end: isoSeconds(end) };
}

export function bundleRequestOf(samples: readonly Sample[], scope: ResourceScope, firstTs: number, lastTs: number): BundleRequest | undefined {
  const window = bundleWindow(firstTs, lastTs);
  const hostSamples = samples.filter((s) => !s.pod && s.labels?.source !== undefined && HOST_SOURCES.has(s.labels.source));
  if (hostSamples.length > 0) {
    const services = [...new Set(hostSamples.map((s) => s.labels?.service_name).filter((x): x is string => !!x))].slice(0, MAX_BUNDLE_TARGETS);
    if (services.length === 0) return undefined;
    const journal = hostSamples.some((s) => s.labels?.source === 'journal');
    return {
      ...(journal ? { timeWindow: window } : {}),
      target: { kind: 'services', services },
      include: { logs: { enabled: true }, metrics: { enabled: true } },
    };
  }
  const pods = new Map<string, BundlePodRef>();
  const add = (namespace: string | undefined, pod: string | undefined): void => {
    if (!namespace || !pod || pods.size >= MAX_BUNDLE_TARGETS) return;
    pods.set(`${namespace}/${pod}`, { namespace, pod });
  };
  add(scope.namespace, scope.pod);
  if (scope.kind === 'Pod') add(scope.namespace, scope.name);
  for (const s of samples) add(s.labels?.namespace ?? scope.namespace, s.pod);
  if (pods.size === 0) return undefined;
  return {
    timeWindow: window,
    target: { pods: [...pods.values()] },
    include: { logs: { enabled: true, previous: true }, events: { enabled: true }, metrics: { enabled: true } },
  };
}
