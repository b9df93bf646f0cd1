/**
 * A component's configuration schema: one place for each key's type, default and one-line doc.
 * The same table validates the YAML (file, field, reason), fills defaults, types the options the
 * component receives, and generates docs/configuration.md, so a default is written exactly once.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { parseDuration } from '../parse/timestamp.ts';

export type FieldType = 'string' | 'integer' | 'boolean' | 'bytes' | 'duration' | 'list' | 'enum' | 'mapping' | 'mappings';

interface FieldBase {
  /** One line for docs/configuration.md and error messages. */
  doc: string;
  /** Must be present (no default). */
  required?: boolean;
}
export interface StringField extends FieldBase { type: 'string'; default?: string }
export interface IntegerField extends FieldBase { type: 'integer'; default?: number; min?: number; max?: number }
export interface BooleanField extends FieldBase { type: 'boolean'; default?: boolean }
/** A size: a number of bytes or "64MiB", "512KiB"…; read as bytes. */
export interface BytesField extends FieldBase { type: 'bytes'; default?: number | string; min?: number }
/** A duration: "30s", "5m", "1h" or milliseconds; read as milliseconds. */
export interface DurationField extends FieldBase { type: 'duration'; default?: number | string; min?: number; max?: number }
/** A list of strings (a comma-separated string is accepted too). */
export interface ListField extends FieldBase { type: 'list'; default?: readonly string[] }
export interface EnumField<V extends string = string> extends FieldBase { type: 'enum'; values: readonly V[]; default?: V }
/** A nested mapping with its own schema. */
export interface MappingField<S extends Schema = Schema> extends FieldBase { type: 'mapping'; fields: S }
/** A list of mappings, each with the same schema (e.g. services, receivers). */
export interface MappingsField<S extends Schema = Schema> extends FieldBase { type: 'mappings'; fields: S; default?: readonly [] }

export type FieldSpec = StringField | IntegerField | BooleanField | BytesField | DurationField | ListField | EnumField | MappingField | MappingsField;
export type Schema = { readonly [key: string]: FieldSpec };

/** Identity with inference: `defineSchema({...})` keeps the literal types `Values<>` needs. */
export function defineSchema<const S extends Schema>(schema: S): S {
  return schema;
}

type HasValue<F> = F extends { required: true } ? true : F extends { default: unknown } ? true : F extends { type: 'mapping' | 'mappings' | 'boolean' } ? true : false;
type ValueOf<F> = F extends { type: 'string' }
  ? string
  : F extends { type: 'integer' | 'bytes' | 'duration' }
    ? number
    : F extends { type: 'boolean' }
      ? boolean
      : F extends { type: 'list' }
        ? string[]
        : F extends { type: 'enum'; values: readonly (infer V)[] }
          ? V
          : F extends { type: 'mapping'; fields: infer S extends Schema }
            ? Values<S>
            : F extends { type: 'mappings'; fields: infer S extends Schema }
              ? Values<S>[]
              : never;

/** The typed options a schema reads to: keys with a default (or required) are always present. */
export type Values<S extends Schema> = { -readonly [K in keyof S as HasValue<S[K]> extends true ? K : never]: ValueOf<S[K]> } & {
  -readonly [K in keyof S as HasValue<S[K]> extends true ? never : K]?: ValueOf<S[K]>;
};

/** Thrown for any configuration mistake: file, dotted field path and reason. */
export class ConfigError extends Error {
  readonly file: string;
  readonly field: string;
  readonly reason: string;
  constructor(file: string, field: string, reason: string) {
    super(`${file}: field ${field}: ${reason}`);
    this.name = 'ConfigError';
    this.file = file;
    this.field = field;
    this.reason = reason;
  }
}

/**
 * Several mistakes at once (`run --check` names them all). A ConfigError itself, so callers that
 * report one error report these too: the message holds one `file: field …: reason` line per mistake.
 */
export class ConfigErrors extends ConfigError {
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    const first = errors[0]!;
    super(first.file, first.field, first.reason);
    this.errors = errors;
    this.message = errors.map((e) => e.message).join('\n');
  }
}

/** One error as is, several as ConfigErrors. */
export function configErrorOf(errors: readonly ConfigError[]): ConfigError {
  return errors.length === 1 ? errors[0]! : new ConfigErrors(errors);
}

/** Reads a secret from a mounted file (trimmed); the error names the field, never the content. */
export function readSecret(file: string | undefined, what: string): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(file, what, `cannot read secret file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * For `run --check`: throws when `file` (a config field's value) cannot be read (or, with X_OK, entered),
 * naming the field and the errno, never the content.
 */
export function checkReadable(file: string, field: string, mode: number = constants.R_OK): void {
  try {
    accessSync(file, mode);
  } catch (err) {
    throw new Error(`${field} ${file} is not readable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const BYTE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** Parses "64MiB", "512 KiB", "1GB" or a positive number of bytes; null if it is none of them. */
export function parseBytes(v: unknown): number | null {
  if (typeof v === 'number') return v > 0 && Number.isFinite(v) ? Math.floor(v) : null;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(v.trim()) : null;
  if (!m) return null;
  return Math.floor(parseFloat(m[1]!) * BYTE_UNITS[(m[2] ?? 'B').toLowerCase()]!);
}

/**
 * Reads `section` (the raw YAML value at `path`) against `schema`: unknown keys, wrong types and
 * out-of-range values are ConfigErrors naming `file` and the dotted path; defaults are filled in.
 */
export function readSection<S extends Schema>(schema: S, section: unknown, file: string, path: string): Values<S> {
  const fail = (field: string, reason: string): never => {
    throw new ConfigError(file, field, reason);
  };
  if (section === undefined || section === null) section = {};
  if (!isObj(section)) fail(path || '(root)', 'must be a mapping');
  const raw = section as Obj;
  for (const k of Object.keys(raw)) {
    if (!(k in schema)) fail(join(path, k), `unknown field (allowed: ${Object.keys(schema).join(', ')})`);
  }
  const out: Obj = {};
  for (const [key, spec] of Object.entries(schema)) {
    const field = join(path, key);
    const v = raw[key];
    if (v === undefined || v === null) {
      if (spec.required) fail(field, `required: ${spec.doc}`);
      const d = defaultOf(spec, file, field);
      if (d !== undefined) out[key] = d;
      continue;
    }
    out[key] = readValue(spec, v, file, field);
  }
  return out as Values<S>;
}

function defaultOf(spec: FieldSpec, file: string, field: string): unknown {
  switch (spec.type) {
    case 'mapping':
      return readSection(spec.fields, {}, file, field);
    case 'mappings':
      return [];
    case 'boolean':
      return spec.default ?? false;
    case 'list':
      return spec.default ? [...spec.default] : undefined;
    case 'bytes':
    case 'duration':
      return spec.default === undefined ? undefined : readValue(spec, spec.default, '(schema default)', field);
    default:
      return spec.default;
  }
}

function readValue(spec: FieldSpec, v: unknown, file: string, field: string): unknown {
  const fail = (reason: string): never => {
    throw new ConfigError(file, field, reason);
  };
  const range = (n: number, min?: number, max?: number, unit = '') => {
    if (min !== undefined && n < min) fail(`must be ≥ ${min}${unit}`);
    if (max !== undefined && n > max) fail(`must be ≤ ${max}${unit}`);
    return n;
  };
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string' || v.length === 0) fail('must be a non-empty string');
      return v;
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) fail('must be an integer');
      return range(v as number, spec.min, spec.max);
    case 'boolean':
      if (typeof v !== 'boolean') fail('must be true or false');
      return v;
    case 'bytes': {
      const n = parseBytes(v);
      if (n === null) fail('must be a size like 64MiB or a number of bytes');
      return range(n!, spec.min, undefined, ' bytes');
    }
    case 'duration': {
      let ms: number;
      try {
        ms = parseDuration(v as string | number);
      } catch (err) {
        return fail((err as Error).message);
      }
      return range(ms, spec.min, spec.max, ' ms');
    }
    case 'list':
      if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail('must be a list of strings');
      return [...(v as string[])];
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) fail(`must be one of ${spec.values.join(', ')}`);
      return v;
    case 'mapping':
      return readSection(spec.fields, v, file, field);
    case 'mappings':
      if (!Array.isArray(v)) fail('must be a list of mappings');
      return (v as unknown[]).map((item, i) => readSection(spec.fields, item, file, `${field}[${i}]`));
  }
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** A default as a person writes it: sizes and durations kept in bytes or ms by the code read as `1MiB`, `10m`. */
function shown(spec: FieldSpec): string {
  const d = (spec as { default?: unknown }).default;
  if (typeof d !== 'number') return String(d);
  if (spec.type === 'bytes') {
    for (const [unit, n] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (d >= n && d % n === 0) return `${d / n}${unit}`;
    return String(d);
  }
  if (spec.type === 'duration') {
    for (const [unit, n] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (d >= n && d % n === 0) return `${d / n}${unit}`;
    return `${d}ms`;
  }
  return String(d);
}

/** One row per leaf field, for docs/configuration.md: `path`, type, default, doc. */
export function schemaRows(schema: Schema, path: string): Array<{ field: string; type: string; default: string; doc: string }> {
  const rows: Array<{ field: string; type: string; default: string; doc: string }> = [];
  for (const [key, spec] of Object.entries(schema)) {
    const field = join(path, key);
    if (spec.type === 'mapping' || spec.type === 'mappings') {
      rows.push({ field, type: spec.type === 'mapping' ? 'mapping' : 'list of mappings', default: '', doc: spec.doc });
      rows.push(...schemaRows(spec.fields, spec.type === 'mappings' ? `${field}[]` : field));
      continue;
    }
    const type = spec.type === 'enum' ? spec.values.map((x) => `\`${x}\``).join(' \\| ') : spec.type;
    const d = spec.required ? '(required)' : spec.type === 'boolean' ? String(spec.default ?? false) : spec.default === undefined ? '' : Array.isArray(spec.default) ? (spec.default.length ? spec.default.join(', ') : '[]') : shown(spec);
    // An integer's range is part of what a reader needs to write a valid value.
    const range = spec.type === 'integer' && (spec.min !== undefined || spec.max !== undefined) ? (spec.max === undefined ? `≥ ${spec.min}` : spec.min === undefined ? `≤ ${spec.max}` : `${spec.min}–${spec.max}`) : '';
    rows.push({ field, type: range ? `${type} (${range})` : type, default: d, doc: spec.doc });
  }
  return rows;
}
