/**
 * Where `npm run dev`'s Vite proxies to when it starts the engine itself: the engine's PORT and HOST
 * (a wildcard HOST is reached on localhost). vite.config.ts's default is :8000, so with PORT set the
 * chart had no data (502 for every API call).
 */
export function devEngineUrl(env: { HOST?: string; PORT?: string }): string {
  const host = env.HOST?.trim();
  const name = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${env.PORT?.trim() || '8000'}`;
}
