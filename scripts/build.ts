/**
 * Builds dist/: JavaScript and .d.ts of src/ and pipelines/ (tsc with tsconfig.build.json), plus a
 * small dist/package.json (name, version, "type": "module") so `../package.json` resolves from
 * dist/src as it does from src/ and dist/ stays ESM. With --bench, also the benchmarks that measure
 * memory (tsconfig.bench.json).
 *
 * Why: Node does not strip types under node_modules, so the npm package (its exports, types and bin
 * point at dist/) and the container image run this build. A process that loads any .ts file also
 * loads Node's TypeScript stripper (~14 MiB resident, measured). Development and tests run the
 * sources (package.json exports condition "rsd-source"). A user's pipeline as .ts outside
 * node_modules still loads (the stripper is then loaded for it); one written as .js does not need it.
 * `npm pack` / `npm publish` run this (prepack).
 *   node scripts/build.ts [--bench] [--out DIR]   (DIR must be inside the repository, for node_modules)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { bench: { type: 'boolean', default: false }, out: { type: 'string', default: 'dist' } } });
const dist = resolve(root, values.out!);
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const project = values.bench ? 'tsconfig.bench.json' : 'tsconfig.build.json';
execFileSync(process.execPath, [tsc, '-p', resolve(root, project), '--outDir', dist], { stdio: 'inherit', cwd: root });
// Not a copy of the whole package.json: its exports/bin/files are relative to the package root and
// would be wrong (and misleading to resolvers) one directory down.
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { name: string; version: string; type: string };
writeFileSync(resolve(dist, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, type: pkg.type }, null, 2)}\n`);
process.stdout.write(`built ${dist}\n`);
