/**
 * The kubelet's container log files: `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`,
 * one CRI record per line, `<RFC3339Nano> <stdout|stderr> <P|F>[:<more tags>] <message>`. A `P` record is
 * a fragment the runtime cut (containerd at 16 KiB): the records up to the next `F` of the same stream
 * are one logical line.
 */
import { parseTs, type ParsedTs } from '../kube/timestamp.ts';

export interface CriRecord {
  /** As the kubelet serves it through the API (`timestamps=true`): fixed 9-digit fraction, `Z` or an offset. */
  ts: ParsedTs;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  message: string;
}

const CRI = /^(\S+) (stdout|stderr) ([PF])(?::\S*)?(?: (.*))?$/s;
const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)$/;

/**
 * The timestamp the kubelet's log API writes for a file timestamp: it parses RFC3339Nano and formats
 * `2006-01-02T15:04:05.000000000Z07:00` (a zero offset prints as `Z`). The same string on both
 * profiles keeps records identical whichever one read them.
 */
export function kubeletTs(raw: string): ParsedTs | null {
  const m = RFC3339.exec(raw);
  if (!m) return null;
  const off = m[3]!;
  const zone = off === 'Z' || off === 'z' || off === '+00:00' || off === '-00:00' ? 'Z' : off;
  return parseTs(`${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${zone}`);
}

export function parseCri(line: string): CriRecord | null {
  const m = CRI.exec(line);
  if (!m) return null;
  const ts = kubeletTs(m[1]!);
  if (!ts) return null;
  return { ts, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', message: m[4] ?? '' };
}

/** What a pod log file's path says. */
export interface PodLogPath {
  namespace: string;
  pod: string;
  uid: string;
  container: string;
  /** The container's restart count when the file was created (`<n>.log`). */
  restart: number;
  /** `<uid>/<container>/<restart>`: one container instance (rotated files of it share it). */
  instance: string;
}

const FILE = /^(\d+)\.log(?:\..*)?$/;

/** Parses `<root>/<ns>_<pod>_<uid>/<container>/<n>.log[.<rotation suffix>]`; null for anything else. */
export function parsePodLogPath(root: string, path: string): PodLogPath | null {
  const base = root.endsWith('/') ? root : `${root}/`;
  if (!path.startsWith(base)) return null;
  const parts = path.slice(base.length).split('/');
  if (parts.length !== 3) return null;
  const [dir, container, file] = parts as [string, string, string];
  // Namespace and pod names are DNS labels/subdomains and the uid is a UUID: none holds `_`.
  const ids = dir.split('_');
  if (ids.length !== 3 || ids.some((x) => x.length === 0) || container.length === 0) return null;
  const f = FILE.exec(file);
  if (!f) return null;
  const [namespace, pod, uid] = ids as [string, string, string];
  const restart = Number(f[1]);
  return { namespace, pod, uid, container, restart, instance: `${uid}/${container}/${restart}` };
}
