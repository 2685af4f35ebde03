#!/usr/bin/env node
import { parseCommandLine } from './commandLine';
import { createConsulWatch } from './consulWatch';
import { ConsulWatchError } from './errors';
import { changeToJson } from './handlers/changeJson';
import { httpHandler } from './handlers/http';
import { scriptHandler } from './handlers/script';
import { type WatchChange, type WatchSpec, type WatchTypeName, watchTypes } from './watchTypes';

const usage = `consul-watch: watch Consul and print or hand over every change

Usage: consul-watch --type TYPE [parameters] [--handler PROGRAM [-- ARGS…] | --http URL]

Types and their parameters:
  key        --key KEY
  keyprefix  --prefix PREFIX
  services   [--filter EXPR]
  nodes      [--filter EXPR]
  service    --service NAME [--tag TAG]… [--passing-only] [--filter EXPR]
  checks     --service NAME | --state any|passing|warning|critical [--filter EXPR]
  event      [--name NAME] [--replay]

Options:
  --http-addr ADDR   Consul address (default: CONSUL_HTTP_ADDR, else 127.0.0.1:8500)
  --token-file FILE  read the ACL token from FILE (default: CONSUL_HTTP_TOKEN); never
                     pass a token on the command line, where other users can see it
  --datacenter DC    --stale | --consistent
  --filter EXPR      only what matches Consul's filter expression, applied by Consul, e.g.
                     'Service.Meta.env == "prod"' (see Consul's API docs, "Filtering")
  --handler PROGRAM  run PROGRAM (no shell) for each change, the change as JSON on stdin,
                     CONSUL_INDEX in its environment; arguments follow "--"
  --http URL         POST each change as JSON to URL, retrying failures
  --no-initial       do not hand over the state found at start
  --once             hand over the state found at start, then exit
Without a handler, each change is printed as one line of JSON.`;

/** The flags a type cannot go without (one of them), named as the user types them. */
const NEEDS: Record<string, string[]> = {
  key: ['key'],
  keyprefix: ['prefix'],
  service: ['service'],
  checks: ['service', 'state'],
};

async function main(): Promise<void> {
  const cli = parseCommandLine('consul-watch', usage, {
    type: { type: 'string' },
    key: { type: 'string' },
    prefix: { type: 'string' },
    service: { type: 'string' },
    tag: { type: 'string', multiple: true },
    'passing-only': { type: 'boolean' },
    state: { type: 'string' },
    filter: { type: 'string' },
    name: { type: 'string' },
    replay: { type: 'boolean' },
    datacenter: { type: 'string' },
    stale: { type: 'boolean' },
    consistent: { type: 'boolean' },
    handler: { type: 'string' },
    http: { type: 'string' },
    'no-initial': { type: 'boolean' },
    once: { type: 'boolean' },
  });
  const { values: v, positionals } = cli;
  // Typed out so TypeScript knows a call never returns.
  const fail: (message: string) => never = cli.usageError;
  if (!v.type) fail('--type is required');
  if (v.handler && v.http) fail('give --handler or --http, not both');
  if (v.stale && v.consistent) fail('give --stale or --consistent, not both');
  const type = Object.hasOwn(watchTypes, v.type as string)
    ? watchTypes[v.type as WatchTypeName]
    : undefined;
  const needs = NEEDS[v.type as string];
  if (type && needs && !needs.some((flag) => v[flag] !== undefined)) {
    fail(
      `--type ${v.type} needs ${needs.map((flag) => `--${flag} ${flag.toUpperCase()}`).join(' or ')}`,
    );
  }
  if (v.filter !== undefined && type && !type.filterable) {
    fail(`--filter works with --type services, nodes, service or checks, not ${v.type}`);
  }
  if (positionals.length > 0 && !v.handler) {
    fail(
      `unexpected arguments ${positionals.join(' ')} (handler arguments go after --handler PROGRAM --)`,
    );
  }
  const spec = {
    type: v.type,
    ...(v.key !== undefined ? { key: v.key } : {}),
    ...(v.prefix !== undefined ? { prefix: v.prefix } : {}),
    ...(v.service !== undefined ? { service: v.service } : {}),
    ...(v.tag ? { tag: v.tag } : {}),
    ...(v['passing-only'] ? { passingOnly: true } : {}),
    ...(v.state !== undefined ? { state: v.state } : {}),
    ...(v.filter !== undefined ? { filter: v.filter } : {}),
    ...(v.name !== undefined ? { name: v.name } : {}),
    ...(v.replay ? { replay: true } : {}),
    ...(v.datacenter ? { datacenter: v.datacenter } : {}),
    ...(v.stale ? { consistency: 'stale' } : v.consistent ? { consistency: 'consistent' } : {}),
  } as WatchSpec;

  const client = createConsulWatch(cli.connection());
  const handle = v.handler
    ? scriptHandler({
        command: v.handler as string,
        args: positionals,
        onStdout: (chunk) => process.stdout.write(chunk),
      })
    : v.http
      ? httpHandler({ url: v.http as string })
      : async (change: WatchChange) => {
          process.stdout.write(`${JSON.stringify(changeToJson(change))}\n`);
        };

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await client.close();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  let watch: ReturnType<typeof client.watch>;
  try {
    watch = client.watch({ ...spec, initial: !v['no-initial'] }, async (change) => {
      await handle(change);
      if (v.once) await stop(0);
    });
  } catch (error) {
    await client.close();
    fail((error as Error).message);
  }
  // One line when Consul becomes unreachable or refuses, one when it answers again.
  watch.on('error', (error: ConsulWatchError) => console.error(`consul-watch: ${error.message}`));
  watch.on('recovered', ({ downMs }) =>
    console.error(
      `consul-watch: ${watch.description} connected again after ${(downMs / 1000).toFixed(1)} s`,
    ),
  );
  console.error(`consul-watch: watching ${watch.description} at ${client.address}`);
}

main().catch((error: unknown) => {
  console.error(
    `consul-watch: ${error instanceof ConsulWatchError ? error.message : (error as Error).stack}`,
  );
  process.exit(1);
});
