// A plain Node program: it knows nothing of Consul and reads its settings from process.env.
import { createServer } from 'node:http';

const settings = {
  greeting: process.env.GREETING ?? 'hello',
  accentColor: process.env.ACCENT_COLOR ?? 'none',
  database: process.env.DATABASE_URL ?? '(unset)',
};

const server = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(settings));
});
// Ready for SIGTERM before saying it started: consul-env may restart it at any moment.
process.on('SIGTERM', () => {
  console.log('config-loader-demo: SIGTERM, closing');
  server.close(() => process.exit(0));
});
console.log(`config-loader-demo: started with ${JSON.stringify(settings)}`);
server.listen(Number(process.env.APP_PORT ?? 0), '127.0.0.1', () => {
  console.log(`config-loader-demo: listening on http://127.0.0.1:${server.address().port}`);
});
