import { LRUCache } from 'lru-cache';
import type { Level, LogRecord, Target } from '../../model/log-record.ts';
import type { ContainerStatus, ContainerStateTerminated, Pod } from './k8s-types.ts';
import { parseTs } from './timestamp.ts';

/**
 * Pod status is a signal of its own: a crash loop, an image pull failure or an OOM kill often never shows
 * up in the container's log (OOMKilled in particular lives only in lastState). Each change becomes one
 * `pod_status` record: a waiting reason when it appears (or the restart count moves), and every abnormal
 * termination once per container instance.
 */

export const BAD_WAITING_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'RunContainerError',
  'PreCreateHookError',
  'PostStartHookError',
]);

export function abnormalTermination(t: ContainerStateTerminated | undefined): boolean {
  if (!t) return false;
  return (t.exitCode ?? 0) !== 0 || (t.reason !== undefined && t.reason !== 'Completed');
}

function allStatuses(pod: Pod): { s: ContainerStatus; type: string }[] {
  const st = pod.status;
  const out: { s: ContainerStatus; type: string }[] = [];
  for (const s of st?.initContainerStatuses ?? []) out.push({ s, type: 'init' });
  for (const s of st?.containerStatuses ?? []) out.push({ s, type: 'app' });
  for (const s of st?.ephemeralContainerStatuses ?? []) out.push({ s, type: 'ephemeral' });
  return out;
}

export class PodStatusTracker {
  private readonly waiting: LRUCache<string, string>;
  private readonly reported: LRUCache<string, true>;
  private readonly maxAgeMs: number;

  constructor(opts: { maxEntries?: number; maxAgeMs: number }) {
    this.waiting = new LRUCache({ max: opts.maxEntries ?? 20_000 });
    this.reported = new LRUCache({ max: opts.maxEntries ?? 20_000 });
    this.maxAgeMs = opts.maxAgeMs;
  }

  /** Records for what changed since the last look at this pod. */
  update(pod: Pod, base: Target, now = Date.now()): LogRecord[] {
    const uid = pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`;
    const out: LogRecord[] = [];
    for (const { s, type } of allStatuses(pod)) {
      const target: Target = { ...base, container: s.name };
      if (s.containerID) target.containerId = s.containerID;
      const wKey = `${uid}/${s.name}`;
      const reason = s.state?.waiting?.reason;
      if (reason && BAD_WAITING_REASONS.has(reason)) {
        const sig = `${reason}/${s.restartCount ?? 0}`;
        if (this.waiting.get(wKey) !== sig) {
          this.waiting.set(wKey, sig);
          const msg = s.state?.waiting?.message;
          // Stamped with the end of the container instance it waits after (when the status says), not
          // with the time it was read: a restart's re-list then yields the same record, which the store
          // keeps once and the lifecycle sees as the same moment.
          const since = s.lastState?.terminated?.finishedAt ?? null;
          out.push(
            this.record(now, since, target, 'warn', `container ${s.name} waiting: ${reason}${msg ? `: ${msg}` : ''}`, {
              reason,
              container_type: type,
              restart_count: String(s.restartCount ?? 0),
              ...(s.lastState?.terminated?.reason ? { last_reason: s.lastState.terminated.reason } : {}),
              ...(s.lastState?.terminated?.exitCode !== undefined ? { last_exit_code: String(s.lastState.terminated.exitCode) } : {}),
            }),
          );
        }
      } else {
        const was = this.waiting.get(wKey);
        if (was !== undefined) {
          this.waiting.delete(wKey);
          // The condition ended: one record says so (rules' clearedBy ends their episodes on it).
          const reasonWas = was.split('/')[0]!;
          const state = s.state?.running ? 'running' : s.state?.terminated ? `terminated: ${s.state.terminated.reason ?? 'Unknown'}` : s.state?.waiting?.reason ? `waiting: ${s.state.waiting.reason}` : 'unknown';
          out.push(this.record(now, null, target, 'info', `container ${s.name} no longer waiting: ${reasonWas} ended (now ${state})`, { reason: 'WaitingEnded', ended: reasonWas, container_type: type, restart_count: String(s.restartCount ?? 0) }));
        }
      }
      for (const t of [s.lastState?.terminated, s.state?.terminated]) {
        if (!t || !abnormalTermination(t)) continue;
        const id = t.containerID ?? `${wKey}/${t.finishedAt ?? ''}`;
        if (this.reported.has(id)) continue;
        this.reported.set(id, true);
        const finished = parseTs(t.finishedAt ?? '');
        // Old terminations seen at startup are history, not news.
        if (finished && now - finished.ms > this.maxAgeMs) continue;
        const tt: Target = { ...target };
        if (t.containerID) tt.containerId = t.containerID;
        out.push(
          this.record(now, t.finishedAt ?? null, tt, t.reason === 'OOMKilled' ? 'error' : 'warn', `container ${s.name} terminated: ${t.reason ?? 'Unknown'} (exit code ${t.exitCode ?? '?'}${t.signal ? `, signal ${t.signal}` : ''})${t.message ? `: ${t.message}` : ''}`, {
            reason: t.reason ?? 'Unknown',
            exit_code: String(t.exitCode ?? ''),
            container_type: type,
            restart_count: String(s.restartCount ?? 0),
            ...(t.signal ? { signal: String(t.signal) } : {}),
          }),
        );
      }
    }
    return out;
  }

  /** The pod is gone: its waiting conditions end with it (one record each, as when they clear). */
  forget(pod: Pod, base?: Target, now = Date.now()): LogRecord[] {
    const uid = pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`;
    const out: LogRecord[] = [];
    for (const { s, type } of allStatuses(pod)) {
      const wKey = `${uid}/${s.name}`;
      const was = this.waiting.get(wKey);
      this.waiting.delete(wKey);
      if (was === undefined || !base) continue;
      const reasonWas = was.split('/')[0]!;
      out.push(this.record(now, null, { ...base, container: s.name }, 'info', `container ${s.name} no longer waiting: ${reasonWas} ended (pod deleted)`, { reason: 'WaitingEnded', ended: reasonWas, container_type: type }));
    }
    return out;
  }

  private record(now: number, at: string | null, target: Target, level: Level, line: string, fields: Record<string, string>): LogRecord {
    const p = at ? parseTs(at) : null;
    const ts = p ? p.raw : new Date(now).toISOString();
    return { ts, tsMs: p ? p.ms : now, line, stream: 'unknown', kind: 'pod_status', target, level, fields };
  }
}
