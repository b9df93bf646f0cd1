/** Rewrites the generated sections of docs/configuration.md (settings, then components) from the schemas. */
import { readFileSync, writeFileSync } from 'node:fs';
import { COMPONENTS } from '../src/components/registry.ts';
import { SETTINGS } from '../src/components/settings.ts';
import { spliceComponentDocs } from '../src/components/docs.ts';

const file = new URL('../docs/configuration.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = spliceComponentDocs(before, [...SETTINGS, ...COMPONENTS]);
if (after !== before) writeFileSync(file, after);
process.stdout.write(after === before ? 'docs/configuration.md up to date\n' : 'docs/configuration.md rewritten\n');
