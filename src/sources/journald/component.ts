/** `journald:` in the config: follow the systemd journal through `journalctl --output=json --follow`, the cursor in the state store. */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { defineComponent, type BuildContext, type Built } from '../../components/component.ts';
import { checkReadable, defineSchema, type Values } from '../../components/schema.ts';
import { checkPriority } from './entry.ts';
import { hostOf, hostTarget } from '../host-target.ts';

export const journaldSchema = defineSchema({
  enabled: { type: 'boolean', default: true, doc: 'follow the journal (the section is off when absent)' },
  journalctl: { type: 'string', default: 'journalctl', doc: 'the journalctl binary: a name looked up in PATH or an absolute path (the host’s, mounted, works when its libraries are there too)' },
  directory: { type: 'string', doc: '`--directory`: read the journal files in this directory (and its machine-id subdirectories), e.g. the host’s /var/log/journal mounted into the pod; default: the system journal of where the detector runs' },
  merge: { type: 'boolean', default: false, doc: '`--merge`: entries of all journals journalctl finds (the local ones and remote ones, e.g. /var/log/journal/remote), interleaved by time; without `directory` only' },
  units: { type: 'list', default: [], doc: '`--unit` each: only entries of these systemd units (any of them; globs such as `nginx*` allowed); empty: all' },
  identifiers: { type: 'list', default: [], doc: '`--identifier` each: only entries with one of these SYSLOG_IDENTIFIERs; with `units` too, an entry must match both' },
  priority: { type: 'string', doc: '`--priority`: the least important priority kept (`warning` keeps emerg … warning), a number 0–7, or a range `err..emerg`' },
  readFrom: { type: 'enum', values: ['end', 'start'], default: 'end', doc: 'where reading starts without a stored cursor: new entries only (`end`), or the oldest entry the journal holds (`start`)' },
  maxLineSize: { type: 'bytes', default: '256KiB', min: 1024, doc: 'longer messages keep their head, marked `malformed: truncated`' },
  positions: {
    type: 'mapping',
    doc: 'the cursor in the state store (`state.store`)',
    fields: {
      flushDelay: { type: 'duration', default: '200ms', min: 0, doc: 'the acknowledged cursor is written this long after the acknowledgement (coalesced); a crash re-reads at most that' },
      scope: { type: 'string', doc: 'key scope, so detectors sharing a JetStream KV bucket keep their cursors apart (default: labels.host)' },
    },
  },
  labels: {
    type: 'mapping',
    doc: 'what every record carries; the Loki stream labels are `source: journal`, cluster, namespace, service_name (from the unit, see docs/journald.md), app, component; the host is structured metadata (`node`)',
    fields: {
      service: { type: 'string', doc: 'a fixed `service_name` for every entry; without it each entry’s comes from `_SYSTEMD_UNIT` (`nginx.service` → `nginx`), else SYSLOG_IDENTIFIER' },
      app: { type: 'string', doc: 'the `app` label' },
      component: { type: 'string', doc: 'the `component` label' },
      namespace: { type: 'string', default: 'default', doc: 'the `namespace` label' },
      host: { type: 'string', doc: 'the host of entries without `_HOSTNAME` (structured metadata `node`; default $NODE_NAME, else the host name)' },
    },
  },
});

/** The journalctl binary as spawn() would find it, or null. */
export function findJournalctl(bin: string, path = process.env.PATH ?? ''): string | null {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (bin.includes('/')) return executable(bin) ? bin : null;
  for (const dir of path.split(delimiter)) if (dir && executable(join(dir, bin))) return join(dir, bin);
  return null;
}

export const journaldComponent = defineComponent({
  key: 'journald',
  kind: 'source',
  doc: 'Follow the systemd journal through `journalctl --output=json --follow` (a mounted `directory`, `merge`, unit / identifier / priority filters): PRIORITY as the level, the unit as service_name, the cursor in the state store advanced on the sink’s acknowledgement; journalctl restarted with backoff. See docs/journald.md.',
  schema: journaldSchema,
  enabled: (o) => o.enabled,
  validate(o, ctx) {
    if (o.directory !== undefined && !o.directory.startsWith('/')) ctx.fail('directory', 'must be an absolute path');
    if (o.directory !== undefined && o.merge) ctx.fail('merge', 'applies to the default journal paths only: drop it or drop directory');
    if (o.priority !== undefined) {
      const why = checkPriority(o.priority);
      if (why) ctx.fail('priority', why);
    }
    if (!o.journalctl) ctx.fail('journalctl', 'must not be empty');
    o.units.forEach((u, i) => {
      if (!u.trim()) ctx.fail(`units[${i}]`, 'must not be empty');
    });
    o.identifiers.forEach((u, i) => {
      if (!u.trim()) ctx.fail(`identifiers[${i}]`, 'must not be empty');
    });
  },
  build: (o, ctx) => buildJournaldSource(o, ctx),
});

/** Builds a journald source from a `journald:`-shaped section (the services section builds one per service too). */
export async function buildJournaldSource(o: Values<typeof journaldSchema>, ctx: BuildContext): Promise<Built> {
  if (ctx.checkOnly) {
    // What a start would report as unready, reported before a deploy.
    if (!findJournalctl(o.journalctl)) {
      const { NOT_FOUND } = await import('./source.ts');
      throw new Error(NOT_FOUND(o.journalctl));
    }
    if (o.directory) checkReadable(o.directory, 'journald.directory', constants.R_OK | constants.X_OK);
    return {};
  }
  const { JournaldSource } = await import('./source.ts');
  const host = hostOf(o.labels);
  const source = new JournaldSource({
    journalctl: o.journalctl,
    ...(o.directory ? { directory: o.directory } : {}),
    merge: o.merge,
    units: o.units,
    identifiers: o.identifiers,
    ...(o.priority ? { priority: o.priority } : {}),
    readFrom: o.readFrom,
    maxLineBytes: o.maxLineSize,
    flushDelayMs: o.positions.flushDelay,
    scope: o.positions.scope ?? host,
    fixedService: o.labels.service !== undefined,
    target: hostTarget(ctx.cluster, o.labels),
    store: ctx.store,
    log: ctx.log,
    pressure: ctx.pressure,
  });
  ctx.log.info({ directory: o.directory, units: o.units, identifiers: o.identifiers, priority: o.priority, readFrom: o.readFrom }, 'journald source built');
  return { sources: [source] };
}
