import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../engine/src/config/config.ts';
import { serverSettings } from '../../../engine/src/server/server.ts';

// Both roles build their server from this: an edge once left TRUST_PROXY out, so behind the load balancer
// every user shared one rate budget.
describe('serverSettings', () => {
  it('carries every configured server setting, TRUST_PROXY and the origin lists included', () => {
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', TRUST_PROXY: '10.0.0.1', CORS_ORIGINS: 'https://a.example', ALLOWED_ORIGINS: 'https://a.example', CLIENT_DIR: '' });
    const s = serverSettings(config);
    expect(s.trustProxy).toEqual(config.trustProxy);
    expect(s.trustProxy?.length).toBeGreaterThan(0);
    expect(s).toMatchObject({ host: '127.0.0.1', port: 0, corsOrigins: config.corsOrigins, allowedOrigins: config.allowedOrigins, historyOnConnect: config.historyOnConnect, maxBackpressureBytes: config.maxBackpressureBytes });
  });
});
