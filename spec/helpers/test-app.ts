import { type App, type AppOptions, startApp } from '../../engine/src/app.ts';
import { silentLogger } from '../../engine/src/log.ts';

/**
 * Starts an engine as the integration specs run it: an ephemeral port on loopback, no client
 * bundle, silent logs. Each spec passes what it tests (source, symbols, limits, …); its options win.
 */
export function startTestApp(options: AppOptions): Promise<App> {
  return startApp({ port: 0, host: '127.0.0.1', clientDir: '', log: silentLogger, ...options });
}
