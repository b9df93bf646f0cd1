#!/usr/bin/env node
// The npm package's command. First the Node version, with syntax any Node that loads ES modules can
// parse: an older Node would otherwise fail on something deeper with an error that names no version.
// Then the CLI: from an installed package the JavaScript build (dist/, `npm run build`; Node does not
// strip types under node_modules); from a repository checkout the sources, as development runs them.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const range = (pkg.engines && pkg.engines.node) || '';
const want = (/^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range) || []).slice(1).map((n) => Number(n || 0));
const have = process.versions.node.split('.').map(Number);
let older = false;
for (let i = 0; i < want.length; i++) {
  if (have[i] !== want[i]) {
    older = have[i] < want[i];
    break;
  }
}
if (older) {
  process.stderr.write('robot-sre-detector needs Node.js ' + range + ' (this is Node.js ' + process.version + ')\n');
  process.exit(1);
}

const source = new URL('../src/cli.ts', import.meta.url);
const fromSource = existsSync(source) && !realpathSync(fileURLToPath(source)).split(/[\\/]/).includes('node_modules');
const entry = fromSource ? source : new URL('../dist/src/cli.js', import.meta.url);
import(entry.href).then((cli) => cli.runCli());
