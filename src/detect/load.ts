import { registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Rule, RuleSet } from './types.ts';
import { validateRule } from './validate.ts';

export class RuleLoadError extends Error {
  readonly file: string;
  readonly rule: string | undefined;
  readonly field: string | undefined;
  readonly reason: string;

  constructor(file: string, rule: string | undefined, field: string | undefined, reason: string) {
    super(`${file}${rule ? `: rule "${rule}"` : ''}${field ? `: field ${field}` : ''}: ${reason}`);
    this.file = file;
    this.rule = rule;
    this.field = field;
    this.reason = reason;
    this.name = 'RuleLoadError';
  }
}

// `.ts` when running from source, `.js` when running the build in dist/ (the container image).
const OWN_EXT = import.meta.url.endsWith('.js') ? '.js' : '.ts';

let hooked = false;
/**
 * Pipelines mounted from a directory outside the package import 'robot-sre-detector/pipeline';
 * map that specifier to our builders so a mounted .ts file loads without an npm install.
 */
function hookBuilderImport(): void {
  if (hooked) return;
  hooked = true;
  const target = new URL(`./builders${OWN_EXT}`, import.meta.url).href;
  const format = OWN_EXT === '.ts' ? 'module-typescript' : 'module';
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === 'robot-sre-detector/pipeline' || specifier === 'robot-sre-detector') {
        return { url: target, shortCircuit: true, format };
      }
      return nextResolve(specifier, context);
    },
  });
}

/**
 * Load one pipelines/*.ts file: default export RuleSet or Rule[] (or a named `rules`).
 * The import URL carries a hash of the file's bytes, so a hot reload of a changed file evaluates it
 * again while an unchanged one comes from the module cache (ESM never unloads a module: each distinct
 * version loaded stays in memory; files it imports itself are not re-read).
 */
export async function loadPipelineFile(file: string): Promise<RuleSet> {
  hookBuilderImport();
  const abs = resolve(file);
  let mod: Record<string, unknown>;
  try {
    const version = createHash('sha256').update(await readFile(abs)).digest('hex').slice(0, 16);
    mod = (await import(`${pathToFileURL(abs).href}?v=${version}`)) as Record<string, unknown>;
  } catch (err) {
    throw new RuleLoadError(file, undefined, undefined, `cannot load pipeline: ${(err as Error).message}`);
  }
  const exp = mod.default ?? mod.rules;
  let set: RuleSet;
  if (Array.isArray(exp)) set = { name: abs, rules: exp as Rule[] };
  else if (exp && typeof exp === 'object' && Array.isArray((exp as RuleSet).rules)) set = exp as RuleSet;
  else throw new RuleLoadError(file, undefined, 'default export', 'must be a RuleSet (ruleSet(name, rules)) or an array of rules');
  set.rules.forEach((r, i) => {
    const problem = validateRule(r);
    if (problem) throw new RuleLoadError(file, (r as { id?: string })?.id ?? `#${i}`, problem.field, problem.reason);
  });
  return set;
}

/** Every *.ts / *.js file of a directory, in name order. */
export async function loadPipelineDir(dir: string): Promise<RuleSet[]> {
  const names = (await readdir(dir)).filter((n) => /\.(ts|mts|js|mjs)$/.test(n) && !n.endsWith('.d.ts')).sort();
  const out: RuleSet[] = [];
  for (const n of names) out.push(await loadPipelineFile(resolve(dir, n)));
  return out;
}

export async function loadDefaultPipeline(): Promise<RuleSet> {
  return loadPipelineFile(new URL(`../../pipelines/default${OWN_EXT}`, import.meta.url).pathname);
}

/** The second stage (pipelines/second-stage.ts): types problem lines the default rules left unclaimed. */
export async function loadSecondStagePipeline(): Promise<RuleSet> {
  return loadPipelineFile(new URL(`../../pipelines/second-stage${OWN_EXT}`, import.meta.url).pathname);
}
