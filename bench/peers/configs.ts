// JSON's escaping of ASCII text is a valid subset of Go's quoted strings (LogQL, Alloy).
/**
 * Equivalent pipelines for the peers: tail one file from its start, take the timestamp from the
 * line's leading RFC3339Nano field (the line itself is pushed unchanged, as robot-sre-detector pushes
 * it), one line-filter match stage per signature rule with a counter inside, a counter of all lines,
 * and the same five static labels robot-sre-detector's replay stream carries (the tools' automatic
 * `filename` label is dropped so Loki indexes the same label set for everyone).
 */
import { stringify } from 'yaml';
import type { PeerRule } from './rules.ts';

/** cluster, namespace, service_name, container, source: the label names of rsd's replay stream. */
export const BENCH_LABELS = { cluster: 'bench', namespace: 'default', service_name: 'stdin', container: 'stdin', source: 'replay' } as const;

const TS_REGEX = String.raw`^(?P<ts>\S+) `;
/** LogQL strings are Go-quoted (the peers' LogQL parser refuses backtick strings in match selectors). */
const selector = (re2: string): string => `{source="replay"} |~ ${JSON.stringify(re2)}`;

export function promtailConfig(o: { file: string; lokiUrl: string; httpPort: number; dir: string; rules: readonly PeerRule[] }): string {
  const ruleStages = o.rules.map((r) => ({
    match: {
      selector: selector(r.re2),
      stages: [{ metrics: { [`rule_${r.id}_total`]: { type: 'Counter', description: `lines matching ${r.id}`, config: { match_all: true, action: 'inc' } } } }],
    },
  }));
  return stringify(
    {
    server: { http_listen_address: '127.0.0.1', http_listen_port: o.httpPort, grpc_listen_port: 0, log_level: 'warn' },
    positions: { filename: `${o.dir}/positions.yaml` },
    clients: [{ url: `${o.lokiUrl}/loki/api/v1/push` }],
    scrape_configs: [
      {
        job_name: 'bench',
        static_configs: [{ targets: ['localhost'], labels: { ...BENCH_LABELS, __path__: o.file } }],
        pipeline_stages: [
          { regex: { expression: TS_REGEX } },
          { timestamp: { source: 'ts', format: 'RFC3339Nano' } },
          ...ruleStages,
          { metrics: { lines_total: { type: 'Counter', description: 'all lines', config: { match_all: true, action: 'inc' } } } },
          { labeldrop: ['filename'] },
        ],
      },
    ],
    },
    { lineWidth: 0 },
  );
}

/** Alloy strings are Go-quoted too. */
const q = (s: string): string => JSON.stringify(s);

export function alloyConfig(o: { file: string; lokiUrl: string; rules: readonly PeerRule[] }): string {
  const labels = Object.entries(BENCH_LABELS)
    .map(([k, v]) => `${q(k)} = ${q(v)}`)
    .join(', ');
  const counter = (name: string, description: string): string =>
    `metric.counter {\n        name = ${q(name)}\n        description = ${q(description)}\n        match_all = true\n        action = "inc"\n      }`;
  const ruleStages = o.rules.map(
    (r) => `  stage.match {\n    selector = ${q(selector(r.re2))}\n    stage.metrics {\n      ${counter(`rule_${r.id}_total`, `lines matching ${r.id}`)}\n    }\n  }`,
  ).join('\n');
  return `local.file_match "bench" {
  path_targets = [{"__path__" = ${q(o.file)}, ${labels}}]
}

loki.source.file "bench" {
  targets    = local.file_match.bench.targets
  forward_to = [loki.process.bench.receiver]
}

loki.process "bench" {
  forward_to = [loki.write.loki.receiver]
  stage.regex {
    expression = ${q(TS_REGEX)}
  }
  stage.timestamp {
    source = "ts"
    format = "RFC3339Nano"
  }
${ruleStages}
  stage.metrics {
    ${counter('lines_total', 'all lines')}
  }
  stage.label_drop {
    values = ["filename"]
  }
}

loki.write "loki" {
  endpoint {
    url = ${q(`${o.lokiUrl}/loki/api/v1/push`)}
  }
}
`;
}
