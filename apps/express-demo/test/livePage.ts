import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { expect } from 'vitest';

// Debian's chromium (apt-get install chromium); .ci/run installs it. Without it the browser
// tests are skipped on a developer machine, never in CI.
const executablePath = '/usr/bin/chromium';
export const canRunBrowser = existsSync(executablePath) || Boolean(process.env.CI);
const artifacts = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

/**
 * Drives the live settings page (page.ts, served by the Express and the Fastify demo) in
 * headless Chromium: it loads, then a banner and a theme changed in Consul appear on it without
 * a reload, and the secret in the same prefix never does. Saves a screenshot in test-artifacts/.
 */
export async function expectLivePage(options: {
  url: string;
  /** Writes a key under the demo's prefix (`site/banner`), as an operator would. */
  put: (key: string, value: string) => Promise<unknown>;
  screenshot: string;
}): Promise<void> {
  const browser = await chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(options.url);
    await page.getByText('Change me in Consul').waitFor({ timeout: 10_000 });
    let reloads = 0;
    page.on('load', () => reloads++);

    await options.put('site/banner', 'Hello from Consul');
    await options.put('ui/theme', 'dark');
    await page.getByText('Hello from Consul').waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => document.body.classList.contains('dark'), undefined, {
      timeout: 10_000,
    });
    expect(await page.textContent('#theme')).toBe('dark');
    expect(reloads).toBe(0);
    expect(await page.content()).not.toContain('never-sent-to-browsers');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: `${artifacts}${options.screenshot}` });
  } finally {
    await browser.close();
  }
}
