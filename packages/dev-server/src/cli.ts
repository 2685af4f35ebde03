#!/usr/bin/env node
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startDevServer } from './devServer';

const usage = `consul-dev: an in-memory, Consul-compatible HTTP agent for development and tests

Usage: consul-dev [--port 8500] [--host 127.0.0.1] [--data FILE] [--acl-token TOKEN]
                  [--datacenter dc1] [--node NAME] [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]

  --port        TCP port to listen on (default 8500; 0 picks a free one)
  --host        address to bind (default 127.0.0.1)
  --data        persist KV, catalog, sessions and events in FILE, written atomically
  --acl-token   require this token on every request (or set CONSUL_DEV_ACL_TOKEN,
                which keeps it out of the process list)
  --datacenter  datacenter name (default dc1)
  --node        node name (default: this machine's host name)
  --tls-cert, --tls-key
                serve HTTPS with this certificate and key (PEM files)
  --tls-ca      also require client certificates signed by this CA`;

/**
 * Refuses a --data file that could never be saved (its directory missing, not a directory or
 * not writable) or read (a directory), before the server starts and announces it.
 */
function checkDataFile(file: string): void {
  const refuse = (why: string): never => {
    console.error(`consul-dev: --data ${JSON.stringify(file)} ${why}`);
    process.exit(2);
  };
  if (file.trim() === '') refuse('is empty: give the path of a file, such as ./consul-dev.json');
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) refuse(`cannot be saved: ${dir} is not a directory`);
    accessSync(dir, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    refuse(
      code === 'ENOENT'
        ? `cannot be saved: the directory ${dir} does not exist; create it or give a file in an existing directory`
        : `cannot be saved: the directory ${dir} is not writable (${code})`,
    );
  }
  try {
    if (statSync(file).isDirectory())
      refuse('is a directory: give the path of a file in it, such as DIR/consul-dev.json');
  } catch (error) {
    // A file that does not exist yet is fine: it is created on the first save.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

async function main(): Promise<void> {
  let values: ReturnType<typeof parseArgs>['values'];
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '8500' },
        host: { type: 'string', default: '127.0.0.1' },
        data: { type: 'string' },
        'acl-token': { type: 'string' },
        datacenter: { type: 'string', default: 'dc1' },
        node: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-ca': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`consul-dev: ${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    return;
  }
  // Digits only: Number('') and Number(' ') are 0, which would pick a random port.
  const port = /^\d+$/.test(String(values.port)) ? Number(values.port) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(
      `consul-dev: --port must be a whole number from 0 to 65535, not ${JSON.stringify(values.port)}`,
    );
    process.exit(2);
  }
  if (
    Boolean(values['tls-cert']) !== Boolean(values['tls-key']) ||
    (values['tls-ca'] && !values['tls-cert'])
  ) {
    console.error('consul-dev: --tls-cert and --tls-key go together (and --tls-ca needs both)');
    process.exit(2);
  }
  if (values.data !== undefined) checkDataFile(String(values.data));
  const read = (flag: string) => {
    try {
      return readFileSync(values[flag] as string);
    } catch (error) {
      console.error(
        `consul-dev: --${flag} ${values[flag]} cannot be read (${(error as NodeJS.ErrnoException).code})`,
      );
      process.exit(2);
    }
  };
  const tls = values['tls-cert']
    ? {
        cert: read('tls-cert'),
        key: read('tls-key'),
        ...(values['tls-ca'] ? { ca: read('tls-ca') } : {}),
      }
    : undefined;
  const aclToken = (values['acl-token'] as string | undefined) ?? process.env.CONSUL_DEV_ACL_TOKEN;
  const server = await startDevServer({
    port,
    host: values.host as string,
    datacenter: values.datacenter as string,
    nodeName: values.node as string | undefined,
    dataFile: values.data as string | undefined,
    aclToken: aclToken || undefined,
    ...(tls ? { tls } : {}),
  });
  const extras = [
    `datacenter ${values.datacenter}`,
    values.data ? `data in ${values.data}` : 'in memory',
    aclToken ? 'ACL token required' : 'no ACL',
    ...(tls ? [tls.ca ? 'TLS with client certificates' : 'TLS'] : []),
  ];
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      (error: Error) => {
        console.error(`consul-dev: ${error.message}`);
        process.exit(1);
      },
    );
  };
  // Before announcing: a signal sent the moment the line is read must not find the default
  // handler (which kills the process without closing it or flushing --data).
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`consul-dev listening on ${server.url} (${extras.join(', ')})`);
}

main().catch((error: Error) => {
  console.error(`consul-dev: ${error.message}`);
  process.exit(1);
});
