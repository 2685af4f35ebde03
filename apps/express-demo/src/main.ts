import { startExpressDemo } from './app';

const demo = await startExpressDemo({ port: Number(process.env.PORT ?? 3000) });
console.log(`express-demo: open ${demo.url} and change a key, for example:
  curl -X PUT -d 'Hello from Consul' http://${demo.consulAddress}/v1/kv/demo/express/site/banner
  curl -X PUT -d dark http://${demo.consulAddress}/v1/kv/demo/express/ui/theme`);
const stop = () => void demo.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
