// Runs every bench/*.bench.mjs, one after the other, each in its own `node --expose-gc`
// process; or only those named on the command line: `node bench/run.mjs dev-server`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SUFFIX = '.bench.mjs';
// A benchmark that outlives this has hung; it is killed and reported as failed.
const TIME_LIMIT_MS = 15 * 60_000;

const dir = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(dir)
  .filter((file) => file.endsWith(SUFFIX))
  .map((file) => file.slice(0, -SUFFIX.length))
  .sort();

const asked = process.argv
  .slice(2)
  .filter((arg) => arg !== '--')
  .map((arg) => arg.replace(/^.*\//, '').replace(/\.bench\.mjs$/, ''));
const unknown = asked.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`No benchmark named ${unknown.join(', ')}. Available: ${available.join(', ')}`);
  process.exit(2);
}
const selected = asked.length > 0 ? [...new Set(asked)] : available;

function run(name) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', join(dir, name + SUFFIX)], {
      stdio: 'inherit',
    });
    const timer = setTimeout(() => {
      console.error(`${name}: still running after ${TIME_LIMIT_MS / 60_000} min, killing it`);
      child.kill('SIGKILL');
    }, TIME_LIMIT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      console.error(`${name}: ${error.message}`);
      resolve(false);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) console.error(`${name}: exited with ${signal ?? `code ${code}`}`);
      resolve(code === 0);
    });
  });
}

const failed = [];
for (const name of selected) {
  console.log(`\n## ${name}\n`);
  if (!(await run(name))) failed.push(name);
}
if (failed.length > 0) {
  console.error(`\nFailed: ${failed.join(', ')}`);
  process.exit(1);
}
