/** `files:` in the config: tail log files on this host (glob patterns, rotation, positions in the state store). */
import { defineComponent, type BuildContext, type Built } from '../../components/component.ts';
import { defineSchema, type Values } from '../../components/schema.ts';
import { checkMultiline } from './multiline.ts';
import { hostOf, hostTarget } from '../host-target.ts';

const COMPRESSED = ['**/*.gz', '**/*.bz2', '**/*.xz', '**/*.zst', '**/*.zip', '**/*.lz4'];

export const filesSchema = defineSchema({
  enabled: { type: 'boolean', default: true, doc: 'follow the files below (the section is off when absent)' },
  include: { type: 'list', required: true, doc: 'absolute glob patterns of the files to follow (`*`, `**`, `?`, `[…]`, `{a,b}`), e.g. `/var/log/app/*.log*`; include the rotated names (`app.log.1`) so a restart in the middle of a rotation loses nothing' },
  exclude: { type: 'list', default: COMPRESSED, doc: 'glob patterns of paths to skip (the default skips compressed rotations)' },
  readFrom: { type: 'enum', values: ['end', 'start'], default: 'end', doc: 'where a file without a stored position is read from at the very first start; files that appear later (rotation, new services, also while the detector was down) are read from their start' },
  maxOpenFiles: { type: 'integer', default: 1024, min: 1, doc: 'files held open at once; the excess waits its turn (`rsd_files_queued`), a file at its end gives its slot to a waiting one' },
  fingerprintBytes: { type: 'bytes', default: '1KiB', min: 64, doc: 'a file is device + inode + a hash of its first this many bytes (of all of it while shorter): a reused inode is a new file, a copy is recognised' },
  maxLineSize: { type: 'bytes', default: '256KiB', min: 1024, doc: 'longer lines keep their head, marked `malformed: truncated` (the Loki sink cuts at its own maxLineSize with a marker)' },
  pollInterval: { type: 'duration', default: '1s', min: 50, doc: 'open files are checked for growth, truncation and rotation this often (directory watches wake them sooner)' },
  scanInterval: { type: 'duration', default: '10s', min: 100, doc: 'the include patterns are expanded again this often (new directories, missed events)' },
  watch: { type: 'boolean', default: true, doc: 'watch the directories (inotify) besides polling' },
  closeIdleAfter: { type: 'duration', default: '5m', min: 100, doc: 'a file with nothing new for this long is closed (a write reopens it)' },
  rotateWait: { type: 'duration', default: '5s', min: 0, doc: 'a file renamed out of the include patterns or deleted is still read until it has been quiet this long (writers that reopen late)' },
  positions: {
    type: 'mapping',
    doc: 'file positions in the state store (`state.store`)',
    fields: {
      flushDelay: { type: 'duration', default: '200ms', min: 0, doc: 'acknowledged positions are written this long after the acknowledgement (coalesced); a crash re-reads at most that, with the same timestamps' },
      scope: { type: 'string', doc: 'key scope, so detectors sharing a JetStream KV bucket keep their positions apart (default: labels.host)' },
    },
  },
  multiline: {
    type: 'mapping',
    doc: 'join lines into one record (stack traces)',
    fields: {
      mode: { type: 'enum', values: ['none', 'custom', 'go', 'java', 'python', 'stacktraces'], default: 'none', doc: '`custom` (start/continue below), a preset for Go panics, Java or Python stack traces, or `stacktraces` (all three)' },
      start: { type: 'string', doc: 'custom: a line matching this regular expression starts a record (alone: every other line continues it)' },
      continue: { type: 'string', doc: 'custom: a line matching this continues the current record (alone: every other line starts one)' },
      maxLines: { type: 'integer', default: 500, min: 1, doc: 'a record holds at most this many lines; the next line starts a new one' },
      maxBytes: { type: 'bytes', default: '128KiB', min: 64, doc: 'a record holds at most this many bytes' },
      timeout: { type: 'duration', default: '1s', min: 10, doc: 'an open record (and a last line without newline) is emitted after this much quiet' },
    },
  },
  labels: {
    type: 'mapping',
    doc: 'what every record carries; Loki stream labels stay low-cardinality (`source: file`, cluster, namespace, service_name, app, component), the host is structured metadata (`node`)',
    fields: {
      service: { type: 'string', doc: 'the `service_name` label (and the detectors’ scope); without it each file is its own scope' },
      app: { type: 'string', doc: 'the `app` label' },
      component: { type: 'string', doc: 'the `component` label' },
      namespace: { type: 'string', default: 'default', doc: 'the `namespace` label' },
      host: { type: 'string', doc: 'the host (structured metadata `node`; default $NODE_NAME, else the host name)' },
    },
  },
});

const absolute = (p: string) => p.startsWith('/');

export const filesComponent = defineComponent({
  key: 'files',
  kind: 'source',
  doc: 'Tail log files on this host: glob include/exclude, rotation by rename+create, copytruncate and deletion, positions (device + inode + fingerprint) in the state store advanced on the sink’s acknowledgement, an open-file bound, multiline stack traces. See docs/files.md.',
  schema: filesSchema,
  enabled: (o) => o.enabled && o.include.length > 0,
  validate(o, ctx) {
    if (o.enabled && o.include.length === 0) ctx.fail('include', 'at least one pattern is needed');
    o.include.forEach((p, i) => {
      if (!absolute(p)) ctx.fail(`include[${i}]`, 'must be an absolute path pattern');
    });
    o.exclude.forEach((p, i) => {
      if (!absolute(p) && !p.startsWith('**')) ctx.fail(`exclude[${i}]`, 'must be an absolute path pattern or start with **');
    });
    const m = checkMultiline(o.multiline);
    if (m) ctx.fail(m.startsWith('start') || m.startsWith('continue') ? `multiline.${m.split(':')[0]}` : 'multiline.mode', m);
    if (o.multiline.mode !== 'custom' && (o.multiline.start || o.multiline.continue)) ctx.fail('multiline.mode', 'start and continue need mode: custom');
  },
  build: (o, ctx) => buildFileSource(o, ctx),
});

/** Builds a file source from a `files:`-shaped section (the services section builds one per service too). */
export async function buildFileSource(o: Values<typeof filesSchema>, ctx: BuildContext): Promise<Built> {
  if (ctx.checkOnly) return {};
  const { FileSource } = await import('./source.ts');
  const host = hostOf(o.labels);
  const source = new FileSource({
    include: o.include,
    exclude: o.exclude,
    readFrom: o.readFrom,
    maxOpenFiles: o.maxOpenFiles,
    fingerprintBytes: o.fingerprintBytes,
    maxLineBytes: o.maxLineSize,
    pollIntervalMs: o.pollInterval,
    scanIntervalMs: o.scanInterval,
    closeIdleMs: o.closeIdleAfter,
    rotateWaitMs: o.rotateWait,
    positionsFlushMs: o.positions.flushDelay,
    scope: o.positions.scope ?? host,
    watch: o.watch,
    multiline: {
      mode: o.multiline.mode,
      maxLines: o.multiline.maxLines,
      maxBytes: o.multiline.maxBytes,
      timeoutMs: o.multiline.timeout,
      ...(o.multiline.start ? { start: o.multiline.start } : {}),
      ...(o.multiline.continue ? { continue: o.multiline.continue } : {}),
    },
    target: hostTarget(ctx.cluster, o.labels),
    store: ctx.store,
    log: ctx.log,
    pressure: ctx.pressure,
  });
  ctx.log.info({ include: o.include, maxOpenFiles: o.maxOpenFiles, readFrom: o.readFrom, multiline: o.multiline.mode }, 'file source built');
  return { sources: [source] };
}
