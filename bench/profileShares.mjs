// Self-time shares of one or more V8 CPU profiles (.cpuprofile, from `node --cpu-prof` or the
// benchmarks' --profile / FLEET_PROFILE_DIR), by module and by function, as markdown tables.
// Several files are summed, so the rounds of one peer read as one profile.
//   node bench/profileShares.mjs [--changes=N] [--top=25] FILE...
// --changes: how many changes the files cover together; adds µs per change to each row.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fmt, printTable } from './lib.mjs';

const { values, positionals } = parseArgs({
  options: { changes: { type: 'string' }, top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error('usage: node bench/profileShares.mjs [--changes=N] [--top=25] FILE...');
  process.exit(2);
}
const changes = values.changes ? Number(values.changes) : undefined;

/** Where a frame's code lives, in the words the README's tables use. */
function moduleOf({ url, functionName }) {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(program)') return '(program: V8 and native, no JS frame)';
    if (functionName === '(idle)') return '(idle)';
    return `native: ${functionName}`;
  }
  if (url.includes('/packages/core/dist/')) return 'core';
  if (url.includes('/undici/')) return 'undici';
  if (url.includes('/node_modules/consul/')) return '`consul` client';
  if (url.includes('/node_modules/papi/')) return 'papi (the `consul` client HTTP layer)';
  if (url.includes('/bench/')) return 'benchmark harness';
  const internal = /^node:(?:internal\/)?([a-z_]+)/.exec(url);
  if (internal) return `node: ${internal[1]}`;
  return url.replace(/^.*node_modules\//, '');
}

const byModule = new Map();
const byFunction = new Map();
let idle = 0;
let total = 0;
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the next one.
    const us = timeDeltas[i + 1] ?? timeDeltas[i] ?? 0;
    const frame = nodes.get(samples[i]).callFrame;
    const module = moduleOf(frame);
    total += us;
    if (module === '(idle)') {
      idle += us;
      continue;
    }
    byModule.set(module, (byModule.get(module) ?? 0) + us);
    const name = `${frame.functionName || '(anonymous)'} ${module}${frame.url ? ` ${frame.url.split('/').pop()}:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  }
}
const busy = total - idle;
const row = (name, us) => [
  name,
  fmt(us / 1000, 1),
  `${fmt((100 * us) / busy, 1)} %`,
  ...(changes ? [fmt(us / changes, 1)] : []),
];
const headers = (first) => [first, 'ms', 'share of busy', ...(changes ? ['µs per change'] : [])];
console.log(
  `${positionals.length} profile(s): ${fmt(total / 1000, 0)} ms sampled, busy ${fmt(busy / 1000, 0)} ms (idle ${fmt(idle / 1000, 0)} ms)${changes ? `, ${fmt(changes)} changes, busy ${fmt(busy / changes, 1)} µs per change` : ''}`,
);
const sorted = (map) => [...map].sort((a, b) => b[1] - a[1]);
printTable(
  'Self time by module',
  headers('module'),
  sorted(byModule).map(([n, us]) => row(n, us)),
);
printTable(
  `Self time by function (top ${values.top})`,
  headers('function'),
  sorted(byFunction)
    .slice(0, Number(values.top))
    .map(([n, us]) => row(n, us)),
);
