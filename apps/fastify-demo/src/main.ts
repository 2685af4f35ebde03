import { startFastifyDemo } from './app';

const demo = await startFastifyDemo({ port: Number(process.env.PORT ?? 3002) });
console.log(`fastify-demo: open ${demo.url} and change a key, for example:
  curl -X PUT -d 'Hello from Consul' http://${demo.consulAddress}/v1/kv/demo/fastify/site/banner
  curl -X PUT -d dark http://${demo.consulAddress}/v1/kv/demo/fastify/ui/theme`);
const stop = () => void demo.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
