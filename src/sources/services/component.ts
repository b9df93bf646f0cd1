/**
 * `services:` in the config: a host without Kubernetes. Each service names its log files and its
 * journald units; the detector reads them with the file and journald sources, labelled with the host
 * and the service, so findings are scoped to host/service (namespace = the host, workload = the
 * service) and their LogQL links select `namespace="<host>", service_name="<service>"`.
 * With this section present and `kubernetes.enabled` not set, the Kubernetes sources are off.
 */
import { hostname } from 'node:os';
import { defineComponent, type Built } from '../../components/component.ts';
import { defineSchema, readSection } from '../../components/schema.ts';
import { buildFileSource, filesSchema } from '../files/component.ts';
import { buildJournaldSource, journaldSchema } from '../journald/component.ts';

const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

const schema = defineSchema({
  host: { type: 'string', doc: 'the host name findings and streams carry (default $NODE_NAME, else the machine’s host name)' },
  journalDirectory: { type: 'string', doc: 'read the journal from this directory (`journalctl --directory`) instead of the system journal' },
  journalctl: { type: 'string', default: 'journalctl', doc: 'the journalctl binary (a name in PATH or an absolute path)' },
  list: {
    type: 'mappings',
    doc: 'the services on this host',
    fields: {
      name: { type: 'string', required: true, doc: 'service name: the `service_name` label and the findings’ workload (lower case, digits, `.-_`)' },
      files: { type: 'list', default: [], doc: 'absolute glob patterns of its log files (rotated names included, e.g. `/var/log/postgresql/*.log*`)' },
      units: { type: 'list', default: [], doc: 'its journald units (`postgresql.service`)' },
      multiline: { type: 'enum', values: ['none', 'go', 'java', 'python', 'stacktraces'], default: 'none', doc: 'stack-trace joining for its files' },
      readFrom: { type: 'enum', values: ['end', 'start'], default: 'end', doc: 'where its files and journal are read from at the very first start' },
      metricsUrl: { type: 'string', doc: 'its Prometheus metrics endpoint, for evidence bundles (recorded, not scraped by the detector)' },
    },
  },
});

export const servicesComponent = defineComponent({
  key: 'services',
  kind: 'source',
  doc: 'A host without Kubernetes: services with their log files and journald units, read by the file and journald sources and labelled host/service. See docs/operations.md ("A host without Kubernetes").',
  schema,
  enabled: (o) => o.list.length > 0,
  validate(o, ctx) {
    if (o.list.length === 0) ctx.fail('list', 'at least one service is needed');
    const seen = new Set<string>();
    o.list.forEach((s, i) => {
      if (!NAME.test(s.name)) ctx.fail(`list[${i}].name`, 'lower-case letters, digits, `.`, `-`, `_`; at most 63 characters');
      if (seen.has(s.name)) ctx.fail(`list[${i}].name`, `"${s.name}" is listed twice`);
      seen.add(s.name);
      if (s.files.length === 0 && s.units.length === 0) ctx.fail(`list[${i}]`, 'needs files, units or both');
      s.files.forEach((f, j) => {
        if (!f.startsWith('/')) ctx.fail(`list[${i}].files[${j}]`, 'must be an absolute path pattern');
      });
      if (s.metricsUrl) {
        try {
          new URL(s.metricsUrl);
        } catch {
          ctx.fail(`list[${i}].metricsUrl`, 'not a URL');
        }
      }
    });
    if (o.host !== undefined && !NAME.test(o.host.toLowerCase())) ctx.fail('host', 'not a host name');
  },
  async build(o, ctx) {
    const host = o.host ?? process.env.NODE_NAME ?? hostname();
    const out: Built = { sources: [] };
    for (const [i, s] of o.list.entries()) {
      // Each service is a files: and a journald: section of its own, with the schemas' defaults.
      const labels = { service: s.name, host, namespace: host };
      const positions = { scope: `${host}.${s.name}` };
      if (s.files.length) {
        const files = readSection(filesSchema, { include: s.files, readFrom: s.readFrom, multiline: { mode: s.multiline }, labels, positions }, ctx.file, `services.list[${i}]`);
        out.sources!.push(...((await buildFileSource(files, ctx)).sources ?? []));
      }
      if (s.units.length) {
        const journal = readSection(
          journaldSchema,
          { units: s.units, readFrom: s.readFrom, labels, positions, journalctl: o.journalctl, ...(o.journalDirectory ? { directory: o.journalDirectory } : {}) },
          ctx.file,
          `services.list[${i}]`,
        );
        out.sources!.push(...((await buildJournaldSource(journal, ctx)).sources ?? []));
      }
    }
    ctx.log.info({ host, services: o.list.map((s) => s.name) }, 'standalone services built');
    return out;
  },
});
