import { PREFIX, startNestDemo } from './app';

const demo = await startNestDemo({ port: Number(process.env.PORT ?? 3001) });
console.log(`nestjs-demo: try ${demo.url}/flags and change a flag, for example:
  curl -X PUT -d true http://${demo.consulAddress}/v1/kv/${PREFIX}features/new-checkout`);
