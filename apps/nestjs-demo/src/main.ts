import { FLAGS_KEY, startNestDemo } from './app';

// NEST_PLATFORM=fastify (or --fastify) runs it on @nestjs/platform-fastify; Express by default.
const demo = await startNestDemo({
  port: Number(process.env.PORT ?? 3001),
  ...(process.argv.includes('--fastify') ? { platform: 'fastify' as const } : {}),
});
console.log(`nestjs-demo (on ${demo.platform}): try ${demo.url}/flags as different users, then change the flag document, for example:
  curl -H 'x-user: ann' ${demo.url}/flags
  curl -X PUT --data-binary @flags.json http://${demo.consulAddress}/v1/kv/${FLAGS_KEY}`);
