/**
 * Builds dist/: plain JavaScript of src/ and pipelines/ (tsc with tsconfig.build.json), plus a copy
 * of package.json so `../package.json` resolves from dist/src as it does from src/. With --bench,
 * also the benchmarks that measure memory (tsconfig.bench.json).
 *
 * Why: Node runs the .ts sources directly, but a process that loads any .ts file also loads Node's
 * TypeScript stripper (~14 MiB resident, measured). The container image and the benchmarks run
 * dist/; development and tests run the sources. A user's pipeline mounted as .ts still loads (the
 * stripper is then loaded for it); one written as .js does not need it.
 *   node scripts/build.ts [--bench] [--out DIR]   (DIR must be inside the repository, for node_modules)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
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
copyFileSync(resolve(root, 'package.json'), resolve(dist, 'package.json'));
process.stdout.write(`built ${dist}\n`);
