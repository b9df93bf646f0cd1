/**
 * The component contract. A source, findings sink or server is one module that exports a
 * `ComponentSpec`: its YAML key, its schema (types, defaults, docs), semantic checks that name the
 * field, and `build()`, which constructs it without starting it. `config.ts` reads every registered
 * section generically, `run` builds and starts what the config names, `run --check` builds without
 * starting, and docs/configuration.md is generated from the schemas. Adding a component is one spec
 * module plus one line in `registry.ts`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import type { Source } from '../sources/types.ts';
import type { FindingSink, LogSink } from '../sinks/types.ts';
import type { StateStore } from '../state/store.ts';
import type { Pressure } from '../delivery/pressure.ts';
import type { Schema, Values } from './schema.ts';

/**
 * `log-sink` components are built first: their queue fill is the pressure every source reads.
 * `settings` sections (src/components/settings.ts) are read, never built: the process's own options.
 */
export type ComponentKind = 'source' | 'log-sink' | 'findings-sink' | 'server' | 'settings';

/** A long-running part that is neither a source nor a sink (an HTTP API, a watcher). */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** For /readyz: null when healthy, else a short reason. */
  unready(): string | null;
}

/** What build() returns: whichever of the three the component is. */
export interface Built {
  sources?: Source[];
  /** Where every line goes (at most one per run). */
  logSink?: LogSink;
  findingSinks?: FindingSink[];
  services?: Service[];
}

export interface ValidateContext {
  /** The config file (or "(defaults)"), for messages. */
  readonly file: string;
  /** Throws a ConfigError naming the file and `<key>.<field>`. */
  fail(field: string, reason: string): never;
  /** The whole parsed document, for checks that span sections (read-only). */
  readonly document: Readonly<Record<string, unknown>>;
}

export interface BuildContext {
  readonly cluster: string;
  /** A child logger with `component: <key>`. */
  readonly log: Logger;
  /** Cursors, positions and other state that must survive a restart. */
  readonly store: StateStore;
  /** The log sink's queue fill, 0 (idle) … 1 (full), a value the sink keeps current (NO_PRESSURE without one): sources stop reading when it is high. */
  readonly pressure: Pressure;
  /** The config file, for error messages and relative paths. */
  readonly file: string;
  /** Options of the other configured components by key (e.g. the bundle server reads `services`). */
  optionsOf(key: string): unknown;
  /** The NATS connection when `nats.servers` is set: opened by `run` before any build, shared by the findings sink and the JetStream KV state store. */
  readonly nats?: Promise<NatsConnection>;
  /** `run --check`: construct and verify (files readable, secrets present), start nothing, hold nothing open. */
  readonly checkOnly: boolean;
}

export interface ComponentSpec<S extends Schema = Schema> {
  /** Top-level YAML key (also the metric/log `component` label). */
  readonly key: string;
  readonly kind: ComponentKind;
  /** One sentence for docs/configuration.md. */
  readonly doc: string;
  readonly schema: S;
  /** Whether the section as written turns the component on (e.g. `enabled: true`, or a non-empty list); the whole document for rules that span sections. */
  enabled(options: Values<S>, document: Readonly<Record<string, unknown>>): boolean;
  /** Configured (with its defaults) even when its section is absent, when this says so (the Kubernetes API source on a cluster). */
  implicit?(document: Readonly<Record<string, unknown>>): boolean;
  /** Checks the schema cannot express; call ctx.fail(field, reason). */
  validate?(options: Values<S>, ctx: ValidateContext): void;
  /** Construct (no I/O beyond reading local files); import heavy modules lazily here. */
  build(options: Values<S>, ctx: BuildContext): Promise<Built>;
}

/** Erases the schema type so specs of different schemas share one registry list. */
export type AnyComponent = ComponentSpec<Schema>;

export function defineComponent<const S extends Schema>(spec: ComponentSpec<S>): AnyComponent {
  return spec as unknown as AnyComponent;
}

/** A component the config turned on, with its validated options. */
export interface ConfiguredComponent {
  readonly spec: AnyComponent;
  readonly options: Values<Schema>;
}
