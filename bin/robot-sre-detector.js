#!/usr/bin/env node
// Node >= 22.18 strips TypeScript types natively: the CLI runs from source, no build step.
const { runCli } = await import('../src/cli.ts');
runCli();
