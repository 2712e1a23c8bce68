// Vite builds the studio into dist/, which `wirework serve` serves at /
// (assets under /assets/). `npm run dev` proxies the API to a local server.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts or data: URLs: the server's Content-Security-Policy allows neither.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    // The canvas chunk holds ELK's layout engine (about 1.4 MB); it loads only when a workflow opens.
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { '/api': process.env.WIREWORK_URL ?? 'http://127.0.0.1:8080' },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
