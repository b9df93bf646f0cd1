/**
 * The generic half of configuration: read every registered component's section, validate it, and
 * build what is enabled. config.ts calls readComponents(); run.ts calls buildComponents().
 */
import type { Logger } from '../logger.ts';
import type { AnyComponent, BuildContext, Built, ConfiguredComponent, ValidateContext } from './component.ts';
import { ConfigError, readSection } from './schema.ts';

type Obj = Record<string, unknown>;

/** Validated options of each component whose section is present and enabled; throws ConfigError. */
export function readComponents(document: Obj, file: string, components: readonly AnyComponent[]): ConfiguredComponent[] {
  const out: ConfiguredComponent[] = [];
  for (const spec of components) {
    if (!(spec.key in document) && !spec.implicit?.(document)) continue;
    const options = readSection(spec.schema, document[spec.key], file, spec.key);
    const ctx: ValidateContext = {
      file,
      document,
      fail: (field, reason) => {
        throw new ConfigError(file, `${spec.key}.${field}`, reason);
      },
    };
    spec.validate?.(options, ctx);
    if (spec.enabled(options, document)) out.push({ spec, options });
  }
  return out;
}

export interface BuiltComponent {
  readonly key: string;
  readonly built: Built;
}

/**
 * Builds every configured component in registry order. In check mode a failure is collected (so
 * `run --check` reports every component that would fail at start); otherwise the first one throws.
 */
export async function buildComponents(
  configured: readonly ConfiguredComponent[],
  base: Omit<BuildContext, 'log' | 'optionsOf'>,
  log: Logger,
): Promise<{ built: BuiltComponent[]; errors: Array<{ key: string; error: Error }> }> {
  const byKey = new Map(configured.map((c) => [c.spec.key, c.options] as const));
  const built: BuiltComponent[] = [];
  const errors: Array<{ key: string; error: Error }> = [];
  for (const { spec, options } of configured) {
    const ctx: BuildContext = { ...base, log: log.child({ component: spec.key }), optionsOf: (key) => byKey.get(key) };
    try {
      built.push({ key: spec.key, built: await spec.build(options, ctx) });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (!base.checkOnly) throw error;
      errors.push({ key: spec.key, error });
    }
  }
  return { built, errors };
}
