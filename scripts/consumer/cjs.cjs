// A consumer's CommonJS program: every package loads through require and has its front door.
const fronts = {
  '@consul-watch/core': 'createConsulWatch',
  '@consul-watch/dev-server': 'startDevServer',
  '@consul-watch/express': 'consulConfig',
  '@consul-watch/fastify': 'consulConfig',
  '@consul-watch/nestjs': 'ConsulModule',
  '@consul-watch/config-loader': 'loadConsulEnv',
  '@consul-watch/openfeature': 'ConsulFlagProvider',
};
for (const [name, front] of Object.entries(fronts)) {
  const mod = require(name);
  if (mod[front] === undefined) throw new Error(`consumer (CJS): ${name} has no ${front}`);
  console.log(`ok  require('${name}').${front}`);
}
