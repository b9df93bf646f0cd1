#!/usr/bin/env node
// Node >= 22.18 strips TypeScript types natively: from a checkout or npm package the CLI runs from
// source. The container image runs the compiled dist/src/cli.js instead (see Dockerfile).
const { runCli } = await import('../src/cli.ts');
runCli();
