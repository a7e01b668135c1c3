import { createServer } from 'node:net';
import { ConfigError } from '../domain/errors.ts';

/**
 * Fails with a ConfigError naming PORT or HOST unless this process can listen there. uWS listens with
 * SO_REUSEPORT (the engine's own waiting server hands over to the real one that way), so a second
 * engine started on a port one already serves listened too, without an error, and the kernel split
 * the connections between them (an attacker-style probe: 12 and 8 of 20 requests). A plain socket
 * without SO_REUSEPORT cannot bind next to it, nor next to any other listener: it tells, before
 * anything else starts. With port 0 (any free port) only the host is checked (uWS's own error for a
 * bad one named neither variable, and exited 1 with a stack trace).
 */
export async function assertCanListen(host: string, port: number): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, resolve);
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    if (code === 'EADDRINUSE') throw configError('PORT', String(port), `a port nothing listens on (${host}:${port} is in use: another engine, or another process)`);
    if (code === 'EACCES') throw configError('PORT', String(port), `a port this process may listen on (${code}: ports below 1024 need privileges)`);
    throw configError('HOST', host, `an address of this machine to listen on (${code})`);
  } finally {
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
  }
}

function configError(variable: string, value: string, accepted: string): ConfigError {
  return new ConfigError(`${variable}=${JSON.stringify(value)} is invalid: expected ${accepted}`, { info: { variable, value, accepted } });
}
