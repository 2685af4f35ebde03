import { PREFIX, startNestDemo } from './app';

// NEST_PLATFORM=fastify (or --fastify) runs it on @nestjs/platform-fastify; Express by default.
const demo = await startNestDemo({
  port: Number(process.env.PORT ?? 3001),
  ...(process.argv.includes('--fastify') ? { platform: 'fastify' as const } : {}),
});
console.log(`nestjs-demo (on ${demo.platform}): try ${demo.url}/flags and change a flag, for example:
  curl -X PUT -d true http://${demo.consulAddress}/v1/kv/${PREFIX}features/new-checkout`);
