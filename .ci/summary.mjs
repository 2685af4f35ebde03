// Reads vitest's JSON report and prints `N passed, N failed, N skipped` as the last line.
// Exits non-zero when the run failed, a test failed, or no test ran at all.
import { existsSync, readFileSync } from 'node:fs';

const [file, runStatus = '0'] = process.argv.slice(2);
if (!file || !existsSync(file)) {
  console.error(`no vitest report at ${file}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const passed = report.numPassedTests ?? 0;
// A test file that fails to load or fails in a hook counts as one failure of its own.
const brokenSuites = (report.testResults ?? []).filter(
  (suite) =>
    suite.status === 'failed' && suite.assertionResults.every((t) => t.status !== 'failed'),
).length;
const failed = (report.numFailedTests ?? 0) + brokenSuites;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
const ok = runStatus === '0' && failed === 0 && passed > 0;
if (!ok && failed === 0) console.error(passed === 0 ? 'no test ran' : `vitest exited ${runStatus}`);
console.log(`${passed} passed, ${ok ? failed : Math.max(failed, 1)} failed, ${skipped} skipped`);
process.exit(ok ? 0 : 1);
