import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

const engine = process.env.ENGINE_URL ?? 'http://localhost:8000';

export default defineConfig({
  root: 'client',
  plugins: [solid()],
  build: {
    outDir: '../dist/client',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    proxy: {
      '/ws': { target: engine.replace(/^http/, 'ws'), ws: true },
      '/candles': engine,
      '/symbols': engine,
      '/health': engine,
      '/series': engine,
    },
  },
});
