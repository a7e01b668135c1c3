import { spawn, type ChildProcess } from 'node:child_process';
import { devEngineUrl } from './dev-engine-url.ts';

/**
 * `npm run dev`: the engine under `tsx watch` (restarts when engine code or a module in SERIES_DIR
 * changes; browsers reconnect and resync by themselves) plus Vite's dev server with hot reload,
 * proxied to it. With ENGINE_URL set, only Vite runs, against that engine.
 */
const children: ChildProcess[] = [];
const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const child = spawn(process.execPath, [cmd, ...args], { stdio: 'inherit', env: { ...process.env, ...env } });
  children.push(child);
  child.on('exit', (code) => {
    for (const c of children) if (c !== child) c.kill('SIGTERM');
    process.exit(code ?? 0);
  });
};

let viteEnv: NodeJS.ProcessEnv = {};
if (!process.env.ENGINE_URL) {
  const seriesDir = process.env.SERIES_DIR ?? 'series';
  run('node_modules/tsx/dist/cli.mjs', ['watch', '--clear-screen=false', '--include', `${seriesDir}/**/*`, 'engine/src/main.ts'], { CLIENT_DIR: '' });
  // With PORT set, Vite proxied to :8000 still: the chart had no data (502 for every API call).
  viteEnv = { ENGINE_URL: devEngineUrl(process.env) };
}
run('node_modules/vite/bin/vite.js', [], viteEnv);
const stop = () => children.forEach((c) => c.kill('SIGTERM'));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
