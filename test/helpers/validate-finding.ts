// The published JSON Schema checked with ajv: test-only (ajv is a dev dependency, not in the image).
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import schema from '../../src/model/finding.schema.json' with { type: 'json' };
import type { Finding } from '../../src/model/finding.ts';

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
// date-time without pulling in ajv-formats: RFC3339 as Date.parse accepts it.
ajv.addFormat('date-time', { type: 'string', validate: (s: string) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)) });
const check = ajv.compile(schema);

/** Validate against the published JSON Schema; returns readable errors (empty when valid). */
export function findingErrors(f: unknown): string[] {
  if (check(f)) return [];
  return (check.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '(root)'} ${e.message ?? 'invalid'}`);
}

export function isFinding(f: unknown): f is Finding {
  return check(f) as boolean;
}

export { schema as findingSchema };
