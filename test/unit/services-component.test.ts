import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';

describe('services: (a host without Kubernetes)', () => {
  it('turns the Kubernetes sources off unless asked, and reads its services', () => {
    const cfg = parseConfig('services:\n  host: db-1\n  list:\n    - { name: postgres, files: [/var/log/postgresql/*.log], units: [postgresql.service] }\n', 'c.yaml', {});
    expect(cfg.kubernetes).toBeUndefined();
    expect(cfg.components.map((c) => c.spec.key)).toEqual(['services']);
    expect(parseConfig('kubernetes: { enabled: true }\nservices:\n  list: [{ name: a, units: [a.service] }]\n', 'c.yaml', {}).kubernetes?.enabled).toBe(true);
    expect(parseConfig('cluster: x\n', 'c.yaml', {}).kubernetes?.enabled).toBe(true);
  });

  it.each([
    ['services:\n  list: []\n', 'field services.list: at least one service is needed'],
    ['services:\n  list: [{ name: Bad Name, units: [a.service] }]\n', 'field services.list[0].name: lower-case letters'],
    ['services:\n  list: [{ name: a, units: [a.service] }, { name: a, units: [b.service] }]\n', 'field services.list[1].name: "a" is listed twice'],
    ['services:\n  list: [{ name: a }]\n', 'field services.list[0]: needs files, units or both'],
    ['services:\n  list: [{ name: a, files: [relative/*.log] }]\n', 'field services.list[0].files[0]: must be an absolute path pattern'],
    ['services:\n  list: [{ name: a, units: [a.service], metricsUrl: "not a url" }]\n', 'field services.list[0].metricsUrl: not a URL'],
    ['services:\n  list: [{ name: a, units: [a.service], multiline: cobol }]\n', 'field services.list[0].multiline: must be one of'],
  ])('rejects %j with file, field and reason', (yaml, message) => {
    expect(() => parseConfig(yaml, 'c.yaml', {})).toThrow(`c.yaml: ${message}`);
  });
});
