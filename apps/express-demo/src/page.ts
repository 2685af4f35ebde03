import type { KvClient, Logger } from '@consul-watch/core';

/** What the page shows, under the demo's prefix in Consul. */
export interface PageConfig {
  site?: { title?: string; banner?: string };
  ui?: { theme?: string };
  features?: { beta?: boolean };
}

/** How a demo serving the page starts. */
export interface PageDemoOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** A Consul agent; default CONSUL_HTTP_ADDR, else an embedded dev-server. */
  consulAddress?: string;
  logger?: Logger;
}

/**
 * Writes the page's keys under `prefix` where they are missing (a change made earlier stays),
 * with a secret beside them that the page must never show.
 */
export async function seedPage(kv: KvClient, prefix: string, title: string): Promise<void> {
  const seed: Record<string, string> = {
    'site/title': title,
    'site/banner': 'Change me in Consul',
    'ui/theme': 'light',
    'features/beta': 'false',
    'secrets/api-key': 'never-sent-to-browsers',
  };
  const existing = new Set(await kv.keys(prefix));
  for (const [key, value] of Object.entries(seed)) {
    if (!existing.has(prefix + key)) await kv.put(prefix + key, value);
  }
}

/** The live settings page: it fills itself from /events and changes as Consul does. */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>consul-watch · live settings</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 3rem auto; max-width: 40rem; padding: 0 1rem; }
  body.dark { background: #16181d; color: #e8e8e8; }
  h1 { font-size: 1.6rem; margin-bottom: .25rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1.5rem; }
  dt { font-weight: 600; }
  dd { margin: 0; font-family: ui-monospace, monospace; }
  #status { color: #777; font-size: .9rem; }
</style>
</head>
<body>
<h1 id="title">…</h1>
<p id="status">connecting to the live config…</p>
<dl>
  <dt>banner</dt><dd id="banner">…</dd>
  <dt>theme</dt><dd id="theme">…</dd>
  <dt>beta features</dt><dd id="beta">…</dd>
  <dt>updates received</dt><dd id="updates">0</dd>
</dl>
<script>
  const show = (id, value) => { document.getElementById(id).textContent = value ?? '(unset)'; };
  let updates = 0;
  const events = new EventSource('/events');
  events.addEventListener('config', (message) => {
    const config = JSON.parse(message.data);
    show('title', config.site?.title);
    show('banner', config.site?.banner);
    show('theme', config.ui?.theme);
    show('beta', config.features?.beta);
    document.body.classList.toggle('dark', config.ui?.theme === 'dark');
    show('updates', String(++updates));
    show('status', 'live: changes in Consul appear here without a reload');
  });
  events.onerror = () => show('status', 'reconnecting…');
</script>
</body>
</html>
`;
