// `npm run bench`: the studio's figures (first load, bundle size, a 200-node
// canvas, 10,000 executions), printed. Not a test: nothing here fails on a
// number; these machines are shared and noisy. Same server as the browser
// tests (e2e/server.ts).
import { defineConfig } from '@playwright/test';
import base from './playwright.config';

export default defineConfig({
  ...base,
  testDir: 'bench',
  testMatch: '*.bench.ts',
  timeout: 600_000,
  reporter: [['list']],
});
