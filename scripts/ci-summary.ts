/**
 * Prints the plain closing line CI reads ("N passed, N failed, N skipped") from vitest's JSON
 * report, and fails when any test was skipped under CI=true: a skipped test proves nothing.
 */
import { readFileSync } from 'node:fs';

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
}
let r: Report;
try {
  r = JSON.parse(readFileSync('.test-report.json', 'utf8')) as Report;
} catch {
  process.stdout.write('0 passed, 1 failed\n');
  process.stderr.write('ci-summary: no .test-report.json (the test run did not finish)\n');
  process.exit(1);
}
const skipped = r.numPendingTests + r.numTodoTests;
process.stdout.write(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped\n`);
if (process.env.CI === 'true' && skipped > 0) {
  process.stderr.write(`ci-summary: ${skipped} test(s) skipped under CI=true: every test must run in CI\n`);
  process.exit(1);
}
process.exit(r.numFailedTests > 0 ? 1 : 0);
