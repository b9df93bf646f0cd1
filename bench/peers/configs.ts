/**
 * Equivalent pipelines for the peers: tail one file from its start, take the timestamp from the
 * line's leading RFC3339Nano field (the line itself is stored unchanged, as robot-sre-detector pushes
 * it), one regex test per signature rule on every line, and the same five stream labels
 * robot-sre-detector's replay stream carries, so the store indexes the same streams for everyone.
 *
 * - OpenTelemetry Collector: the filelog receiver's stanza operators (regex_parser with the
 *   timestamp, then one `add` operator per rule whose `if: body matches "<re2>"` runs the rule's Go
 *   regexp on every line and marks the matches), batch, otlphttp into the store's OTLP endpoint.
 * - vlagent: VictoriaLogs' file collector has no rule stages: it is the baseline of a pure shipper
 *   (tail and push, no regex), measured to show what detection costs on top of shipping.
 */
import { stringify } from 'yaml';
import type { PeerRule } from './rules.ts';

/** cluster, namespace, service_name, container, source: the label names of rsd's replay stream. */
export const BENCH_LABELS = { cluster: 'bench', namespace: 'default', service_name: 'stdin', container: 'stdin', source: 'replay' } as const;

const TS_REGEX = String.raw`^(?P<ts>\S+) `;

/** One `add` operator per rule: expr-lang's `matches` is Go's regexp (RE2), the rule's own engine and pattern. */
const ruleOperators = (rules: readonly PeerRule[]) =>
  rules.map((r) => ({ type: 'add', id: `rule_${r.id}`, field: `attributes.rule_${r.id}`, value: 'matched', if: `body matches ${JSON.stringify(r.re2)}` }));

/** The Collector around a filelog receiver: batch, otlphttp into the store, its own telemetry quiet. */
function otelcolDocument(filelog: Record<string, unknown>, storeUrl: string): string {
  return stringify(
    {
      receivers: { filelog },
      processors: { batch: { send_batch_size: 8192, timeout: '1s' } },
      exporters: { otlphttp: { logs_endpoint: `${storeUrl}/insert/opentelemetry/v1/logs`, compression: 'gzip' } },
      service: {
        telemetry: { logs: { level: 'warn' }, metrics: { level: 'none' } },
        pipelines: { logs: { receivers: ['filelog'], processors: ['batch'], exporters: ['otlphttp'] } },
      },
    },
    { lineWidth: 0 },
  );
}

export function otelcolConfig(o: { file: string; storeUrl: string; dir: string; metricsPort: number; rules: readonly PeerRule[] }): string {
  return otelcolDocument(
    {
      include: [o.file],
      start_at: 'beginning',
      include_file_name: false,
      resource: { ...BENCH_LABELS },
      operators: [
        { type: 'regex_parser', regex: TS_REGEX, timestamp: { parse_from: 'attributes.ts', layout_type: 'gotime', layout: '2006-01-02T15:04:05.999999999Z07:00' } },
        { type: 'remove', field: 'attributes.ts' },
        ...ruleOperators(o.rules),
      ],
    },
    o.storeUrl,
  );
}

/** vlagent's flags: tail `file` from the start, the same five labels as stream fields, push to the store. */
export function vlagentArgs(o: { file: string; storeUrl: string; dir: string; httpPort: number }): string[] {
  return [
    `-httpListenAddr=127.0.0.1:${o.httpPort}`,
    `-tmpDataPath=${o.dir}/vlagent-data`,
    `-fileCollector.glob=${o.file}`,
    `-fileCollector.checkpointsPath=${o.dir}/checkpoints.json`,
    `-fileCollector.extraFields=${JSON.stringify(BENCH_LABELS)}`,
    `-fileCollector.streamFields=${Object.keys(BENCH_LABELS).join(',')}`,
    '-fileCollector.fileField=',
    '-fileCollector.hostnameField=',
    `-remoteWrite.url=${o.storeUrl}/insert/native`,
    '-loggerLevel=WARN',
  ];
}

/**
 * The files variant (bench/files.ts): the kubelet's pod log files (`<root>/<ns>_<pod>_<uid>/<container>/0.log`,
 * CRI lines), read from their start. The filelog receiver's `container` operator parses the CRI prefix
 * (`format: containerd`: timestamp, stream, `P`/`F` tag, fragments joined) and takes namespace, pod, uid and container from
 * the path into resource attributes (one stream per container in the store, as robot-sre-detector's
 * kubernetesFiles source gives); then the same per-rule regex stages as the single-file variant.
 */
export function otelcolFilesConfig(o: { root: string; storeUrl: string; dir: string; rules: readonly PeerRule[] }): string {
  return otelcolDocument(
    {
      include: [`${o.root}/*/*/*.log`],
      start_at: 'beginning',
      include_file_name: false,
      // The container operator reads namespace, pod, uid and container from `log.file.path`.
      include_file_path: true,
      max_concurrent_files: 1024,
      resource: { cluster: BENCH_LABELS.cluster, source: 'files' },
      // Its formats are docker, crio and containerd (the CRI layout with a `Z` timestamp, as these files).
      operators: [{ type: 'container', format: 'containerd', add_metadata_from_filepath: true }, ...ruleOperators(o.rules)],
    },
    o.storeUrl,
  );
}

/**
 * vlagent on the same pod log files with its file collector: each line is shipped as it is (the CRI
 * prefix stays in the message: the file collector has no CRI parser), one stream per file. vlagent's
 * `-kubernetesCollector` parses CRI but finds files through pod container IDs under
 * /var/log/containers and needs the nodes and namespaces API, which the bench's fake API server does
 * not serve; the file collector is the pure-shipper baseline here as in the single-file variant.
 */
export function vlagentFilesArgs(o: { root: string; storeUrl: string; dir: string; httpPort: number }): string[] {
  return [
    `-httpListenAddr=127.0.0.1:${o.httpPort}`,
    `-tmpDataPath=${o.dir}/vlagent-data`,
    `-fileCollector.glob=${o.root}/*/*/*.log`,
    `-fileCollector.checkpointsPath=${o.dir}/checkpoints.json`,
    `-fileCollector.extraFields=${JSON.stringify({ cluster: BENCH_LABELS.cluster, source: 'files' })}`,
    '-fileCollector.streamFields=cluster,source,file',
    '-fileCollector.fileField=file',
    '-fileCollector.hostnameField=',
    `-remoteWrite.url=${o.storeUrl}/insert/native`,
    '-loggerLevel=WARN',
  ];
}
