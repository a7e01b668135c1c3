import { loadConfig } from './config/config.ts';
import { ConfigError } from './domain/errors.ts';
import { createLogger } from './log.ts';

/** Process entry: validated config, the app, and signal handling. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  // Installed before anything starts: a signal while starting (an edge waiting for Redis, a start
  // waiting for the exchange) killed the process with nothing said. It exits at once then (nothing
  // has been served, and waiting for a start that may not end outlived `docker stop`'s 10 s); a
  // second signal during a shutdown exits at once too.
  let app: { stop(): Promise<void> } | undefined;
  let stopping: string | undefined;
  const stop = (running: { stop(): Promise<void> }) =>
    running.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error('shutdown failed', { err: e as Error });
        process.exit(1);
      },
    );
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} received again: exiting now, without waiting for the shutdown`);
      process.exit(1);
    }
    stopping = signal;
    if (!app) {
      log.info(`${signal} received while starting: exiting`);
      process.exit(0);
    }
    log.info(`${signal} received: shutting down`);
    const force = setTimeout(() => {
      log.error('shutdown took too long, exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    void stop(app);
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // Imported after the config is known good, so a bad variable fails fast and plainly.
  try {
    // Before anything starts (the exchange, Redis): a port another engine serves is refused here.
    await (await import('./server/port-free.ts')).assertCanListen(config.host, config.port);
    // A cluster node's REDIS_URL is checked as ROLE=all's is (app.ts): a database or credentials Redis refuses; and a Redis before 7.
    if (config.role !== 'all' && config.redisUrl) {
      const { checkRedisDatabase, CLUSTER_REDIS_MAJOR } = await import('./store/check-redis-database.ts');
      await checkRedisDatabase(config.redisUrl, 3000, CLUSTER_REDIS_MAJOR);
    }
    app =
      config.role === 'edge'
        ? await (await import('./cluster/edge-node.ts')).startEdge({ ...config, redisUrl: config.redisUrl!, log })
        : config.role === 'ingest'
          ? await (await import('./cluster/ingest-node.ts')).startIngest({ ...config, redisUrl: config.redisUrl!, log })
          : await (await import('./app.ts')).startApp({ ...config, log });
  } catch (e) {
    // Some settings can only be checked against the services they name (REDIS_URL's database).
    if (e instanceof ConfigError) {
      process.stderr.write(`configuration error: ${e.message}\n`);
      process.exit(2);
    }
    // A module of SERIES_DIR that cannot run: its author needs the message, not the loader's stack.
    // (By name: the loader, which forks and installs hooks, is imported only where series are.)
    if (e instanceof Error && e.name === 'SeriesModuleError') {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`fatal: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
