import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@consul-watch/core';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { PREFIX, startExpressDemo } from '../src/app';

// Debian's chromium (apt-get install chromium); .ci/run installs it. Without it the test
// is skipped on a developer machine, never in CI.
const executablePath = '/usr/bin/chromium';
const haveBrowser = existsSync(executablePath);
const artifacts = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

describe('express demo in a real browser', () => {
  it.skipIf(!haveBrowser && !process.env.CI)(
    'updates the page live when a key changes in Consul, without a reload',
    async () => {
      const demo = await startExpressDemo({ logger: silentLogger });
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
        await page.goto(demo.url);
        await page.getByText('Change me in Consul').waitFor({ timeout: 10_000 });
        let reloads = 0;
        page.on('load', () => reloads++);

        await demo.client.kv.put(`${PREFIX}site/banner`, 'Hello from Consul');
        await demo.client.kv.put(`${PREFIX}ui/theme`, 'dark');
        await page.getByText('Hello from Consul').waitFor({ timeout: 10_000 });
        await page.waitForFunction(() => document.body.classList.contains('dark'), undefined, {
          timeout: 10_000,
        });
        expect(await page.textContent('#theme')).toBe('dark');
        expect(reloads).toBe(0);
        expect(await page.content()).not.toContain('never-sent-to-browsers');
        mkdirSync(artifacts, { recursive: true });
        await page.screenshot({ path: `${artifacts}express-demo.png` });
      } finally {
        await browser.close();
        await demo.close();
      }
    },
    30_000,
  );
});
