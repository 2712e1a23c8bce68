// The studio's browser tests: Debian's Chromium (no Playwright browser
// download) driving a real `wirework serve` that e2e/server.ts starts on a
// free loopback port with real plugins. Screenshots of failures are kept in
// test-results/.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  timeout: 60_000,
  workers: 1,
  reporter: [['list']],
  outputDir: 'test-results',
  globalSetup: './e2e/server.ts',
  use: {
    viewport: { width: 1600, height: 1000 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // CI may run as root, where Chromium refuses its sandbox.
      args: ['--no-sandbox'],
    },
  },
});
