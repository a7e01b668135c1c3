import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_INTERVALS, loadConfig } from '../../../engine/src/config/config.ts';
import { ConfigError } from '../../../engine/src/domain/errors.ts';
import { defaultNodeId } from '../../../engine/src/config/default-node-id.ts';
import { childEnv } from '../../helpers/child-env.ts';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8000);
    expect(c.intervals).toEqual(DEFAULT_INTERVALS);
    expect(c.bufferSize).toBe(1000);
    expect(c.historyOnConnect).toBe(720);
    expect(c.redisUrl).toBeUndefined();
    expect(c.source).toBe('auto');
    expect(c.restUrl).toBe('https://api.binance.com');
    expect(c.wsUrl).toBe('wss://stream.binance.com:9443');
    expect(c.maxClients).toBe(5000);
    expect(c.maxConnectsPerSecond).toBe(500);
    expect(loadConfig({ MAX_CLIENTS: '0' }).maxClients).toBe(0);
  });

  it('roles (issue 13): all by default; ingest and edge need REDIS_URL; NODE_ID defaults to host-pid', () => {
    expect(loadConfig({})).toMatchObject({ role: 'all', nodeId: expect.stringMatching(new RegExp(`-${process.pid}$`)), leaseTtlMs: 3000, standbyLagMs: 100 });
    expect(loadConfig({ STANDBY_LAG_MS: '0' }).standbyLagMs).toBe(0);
    expect(loadConfig({ ROLE: 'edge', REDIS_URL: 'redis://r:6379', NODE_ID: 'edge-1' })).toMatchObject({ role: 'edge', nodeId: 'edge-1' });
    expect(() => loadConfig({ ROLE: 'edge' })).toThrow(/^REDIS_URL is not set: expected a redis:\/\/ URL: ROLE=edge/);
    expect(() => loadConfig({ ROLE: 'ingest' })).toThrow(/REDIS_URL.*ROLE=ingest/);
    expect(() => loadConfig({ ROLE: 'leader', REDIS_URL: 'redis://r' })).toThrow(/ROLE/);
    expect(() => loadConfig({ NODE_ID: 'a b' })).toThrow(/NODE_ID/);
    expect(() => loadConfig({ NODE_ID: 'x'.repeat(65) })).toThrow(/NODE_ID/);
  });

  it('makes the default NODE_ID of any host name one NODE_ID takes (a long one refused the start)', () => {
    // A Kubernetes pod's name is up to 63 characters, an FQDN up to 253: host-pid was over 64.
    const pod = `market-engine-edge-${'7f9c4d5b6'.repeat(5)}-x2k9p`;
    for (const host of [pod, `${'a'.repeat(60)}.cluster.local`, 'box', 'h\u00f6st name', '']) {
      const id = defaultNodeId(host, 4_194_304);
      expect(id, host).toMatch(/^[\w.-]{1,64}$/);
      expect(id.endsWith('-4194304'), host).toBe(true);
    }
    expect(defaultNodeId('box', 42)).toBe('box-42');
    expect(defaultNodeId('h\u00f6st name', 7)).toBe('h-st-name-7');
  });

  it('accepts every Binance interval and upper-cases symbols', () => {
    const c = loadConfig({ SYMBOLS: 'btcusdt, ETHUSDT', INTERVALS: '1s,1m,3m,5m,15m,30m,1h,2h,4h,6h,8h,12h,1d,3d,1w,1M', BUFFER_SIZE: '5000' });
    expect(c.symbols).toEqual(['BTCUSDT', 'ETHUSDT']);
    expect(c.intervals).toHaveLength(16);
    expect(c.bufferSize).toBe(5000);
  });

  it('takes SYMBOLS=* as the whole universe, and the on-demand limits', () => {
    const c = loadConfig({ SYMBOLS: '*', IDLE_SERIES_MS: '5000', MAX_ON_DEMAND_SERIES: '10', STREAMS_PER_CONNECTION: '4', GAP_REPAIR_AFTER_MS: '2000' });
    expect(c.symbols).toEqual(['*']);
    expect(c).toMatchObject({ idleSeriesMs: 5000, maxOnDemandSeries: 10, streamsPerConnection: 4, gapRepairAfterMs: 2000 });
    expect(loadConfig({})).toMatchObject({ idleSeriesMs: 600_000, streamsPerConnection: 1024, gapRepairAfterMs: 30_000, seriesLiveShare: 0.25 });
    expect(loadConfig({ SERIES_LIVE_SHARE: '0.5' }).seriesLiveShare).toBe(0.5);
    expect(loadConfig({ SERIES_LIVE_SHARE: '1' }).seriesLiveShare).toBe(1);
    // A replay at max speed is all work by design, and its series must equal the live run's.
    expect(loadConfig({ SOURCE: 'replay', REPLAY_FILE: 'x.gz' }).seriesLiveShare).toBe(1);
    expect(loadConfig({ SOURCE: 'replay', REPLAY_FILE: 'x.gz', SERIES_LIVE_SHARE: '0.3' }).seriesLiveShare).toBe(0.3);
  });

  it.each([
    ['SYMBOLS', '*,BTCUSDT', /SYMBOLS.*not both/],
    ['STREAMS_PER_CONNECTION', '2000', /STREAMS_PER_CONNECTION.*1 to 1024/],
    ['IDLE_SERIES_MS', '10', /IDLE_SERIES_MS/],
    ['GAP_REPAIR_AFTER_MS', '500', /GAP_REPAIR_AFTER_MS.*1000 to 3600000/],
    ['STANDBY_LAG_MS', '5000', /STANDBY_LAG_MS.*0 to 1000/],
    ['PORT', 'eighty', /PORT.*integer from 0 to 65535/],
    ['PORT', '70000', /PORT/],
    ['BUFFER_SIZE', '-5', /BUFFER_SIZE/],
    ['HISTORY_ON_CONNECT', '2000', /HISTORY_ON_CONNECT.*at most BUFFER_SIZE/],
    ['INTERVALS', '1m,7x', /INTERVALS.*bad: 7x/],
    ['SYMBOLS', 'BTC/USDT', /SYMBOLS.*bad: BTC\/USDT/],
    ['SYMBOLS', '-BTCUSDT', /SYMBOLS.*bad: -BTCUSDT/],
    ['SOURCE', 'kraken', /SOURCE.*auto, binance, sim or replay/],
    ['REPLAY_SPEED', 'fast', /REPLAY_SPEED.*'max'/],
    ['SERIES_LIVE_SHARE', '25%', /SERIES_LIVE_SHARE="25%" is invalid: expected a number from 0.01 to 1/],
    ['SERIES_LIVE_SHARE', '0', /SERIES_LIVE_SHARE.*0.01 to 1/],
    ['SERIES_LIVE_SHARE', '1.5', /SERIES_LIVE_SHARE/],
    ['SERIES_LIVE_SHARE', '-0.5', /SERIES_LIVE_SHARE/],
    ['REDIS_URL', 'http://x', /REDIS_URL.*redis:/],
    ['BINANCE_WS_URL', 'https://x', /BINANCE_WS_URL.*ws:/],
    // With a path (Binance's docs name …/api and …/ws endpoints) requests went to /api/api/v3/… and /ws/stream.
    ['BINANCE_REST_URL', 'https://testnet.binance.vision/api', /BINANCE_REST_URL.*origin, without a path/],
    ['BINANCE_WS_URL', 'wss://stream.testnet.binance.vision/ws', /BINANCE_WS_URL.*origin, without a path/],
    // Blanks were taken as "unset" and silently replaced by the seven default symbols.
    ['SYMBOLS', ' ', /SYMBOLS=" " is invalid.*unset it for the defaults/],
    ['SYMBOLS', ' , ', /SYMBOLS/],
    ['INTERVALS', '  ', /INTERVALS/],
    // HOST was passed to the listener unchecked (a typo surfaced as an unexplained listen failure).
    ['HOST', 'local host', /HOST="local host" is invalid: expected an IP address/],
    ['HOST', 'http://0.0.0.0', /HOST/],
    ['HOST', '-bad-.example', /HOST/],
    ['CORS_ORIGINS', 'example.com', /CORS_ORIGINS.*bad: example.com/],
    ['CORS_ORIGINS', 'https://a.example/path', /CORS_ORIGINS/],
    ['ALLOWED_ORIGINS', 'ftp://a.example', /ALLOWED_ORIGINS/],
    ['REDIS_URL', 'redis://h:6379/db1', /REDIS_URL.*numeric database index/],
    // A stray % in the password: ioredis's decodeURIComponent threw a URIError at start.
    ['REDIS_URL', 'redis://:sec%ret@h:6379', /REDIS_URL.*%25/],
    ['REDIS_URL', 'redis://u%zz:p@h:6379', /REDIS_URL.*percent-encoded/],
    ['REDIS_COMMAND_TIMEOUT_MS', '10', /REDIS_COMMAND_TIMEOUT_MS.*100 to 60000/],
    ['TRUST_PROXY', 'haproxy', /TRUST_PROXY.*bad: haproxy/],
    ['ON_DEMAND_PER_MIN', '0', /ON_DEMAND_PER_MIN/],
    ['MAX_CLIENTS', '-1', /MAX_CLIENTS/],
    ['MAX_CLIENTS', 'many', /MAX_CLIENTS/],
  ])('rejects %s=%s naming the variable', (name, value, re) => {
    const run = () => loadConfig({ [name]: value });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(re);
  });

  it('accepts host names and addresses for HOST, and origin lists for CORS_ORIGINS and ALLOWED_ORIGINS', () => {
    for (const h of ['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost', 'engine.internal', 'my-host']) expect(loadConfig({ HOST: h }).host).toBe(h);
    expect(loadConfig({}).corsOrigins).toEqual(['*']);
    expect(loadConfig({}).allowedOrigins).toEqual([]);
    const c = loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:3000', ALLOWED_ORIGINS: 'http://localhost:3000' });
    expect(c.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:3000']);
    expect(c.allowedOrigins).toEqual(['http://localhost:3000']);
    expect(loadConfig({ SYMBOLS: '' }).symbols).toHaveLength(7);
    expect(loadConfig({}).trustProxy).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.5, ::1' }).trustProxy).toEqual(['10.0.0.5', '::1']);
    expect(loadConfig({ TRUST_PROXY: '*' }).trustProxy).toEqual(['*']);
  });

  it('never repeats a REDIS_URL password in its messages', () => {
    for (const bad of ['http://:hunter2@h:6379/0', 'redis://u:hunter2@h:6379/x', 'redis://u:hunter2%@h:6379']) {
      const err = (() => {
        try {
          loadConfig({ REDIS_URL: bad });
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err?.message).toMatch(/REDIS_URL/);
      expect(err?.message).not.toContain('hunter2');
    }
    expect(loadConfig({ REDIS_URL: 'redis://:pw@h:6379/7' }).redisUrl).toBe('redis://:pw@h:6379/7');
  });

  it('requires REPLAY_FILE with SOURCE=replay', () => {
    expect(() => loadConfig({ SOURCE: 'replay' })).toThrow(/REPLAY_FILE/);
    expect(loadConfig({ SOURCE: 'replay', REPLAY_FILE: 'x.gz', REPLAY_SPEED: 'max' }).replaySpeed).toBe('max');
    // Empty is the default, as for every variable (was refused).
    expect(loadConfig({ SOURCE: 'replay', REPLAY_FILE: 'x.gz', REPLAY_SPEED: '' }).replaySpeed).toBe(1);
  });

  it('refuses SOURCE=replay on every node of a cluster, ingest and edge: a replay keeps Redis keys of its own, a cluster shares its keys (a live cluster on that Redis would have been written into, or served as a replay)', () => {
    const env = { REDIS_URL: 'redis://r:6379', SOURCE: 'replay', REPLAY_FILE: 'run.jsonl.gz' };
    for (const role of ['ingest', 'edge']) {
      expect(() => loadConfig({ ...env, ROLE: role }), role).toThrow(ConfigError);
      expect(() => loadConfig({ ...env, ROLE: role }), role).toThrow(new RegExp(`^SOURCE="replay" is invalid: expected auto, binance or sim with ROLE=${role} \\(a replay runs as ROLE=all`));
    }
    expect(loadConfig({ ...env, ROLE: 'all' }).source).toBe('replay');
    expect(loadConfig(env).source).toBe('replay');
    expect(loadConfig({ ROLE: 'edge', REDIS_URL: 'redis://r:6379', SOURCE: 'sim' }).role).toBe('edge');
  });

  it('refuses REPLAY_FILE without SOURCE=replay, naming it (reproduced: ignored, the engine served live data)', () => {
    for (const source of [undefined, 'auto', 'binance', 'sim']) {
      const run = () => loadConfig({ SOURCE: source, REPLAY_FILE: 'run.jsonl.gz' });
      expect(run, source).toThrow(ConfigError);
      expect(run, source).toThrow(`REPLAY_FILE="run.jsonl.gz" is invalid: expected to be set only with SOURCE=replay (SOURCE=${source ?? 'auto'} plays no recording)`);
    }
    const err = (() => {
      try {
        loadConfig({ SOURCE: 'sim', REPLAY_FILE: 'run.jsonl.gz' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.info).toMatchObject({ variable: 'REPLAY_FILE', value: 'run.jsonl.gz' });
    // Empty is unset, as for every other variable.
    expect(loadConfig({ SOURCE: 'sim', REPLAY_FILE: '' }).replayFile).toBeUndefined();
  });

  it('refuses a SERIES_DIR that is no directory; the default may be absent, and empty means none (reproduced: started without the series, silently)', () => {
    expect(() => loadConfig({ SERIES_DIR: '/nonexistent-series-dir' })).toThrow(/SERIES_DIR="\/nonexistent-series-dir" is invalid: expected a directory of derived-series modules/);
    expect(() => loadConfig({ SERIES_DIR: 'package.json' })).toThrow(/SERIES_DIR="package.json" is invalid/);
    expect(loadConfig({ SERIES_DIR: 'spec/fixtures/series-faulty' }).seriesDir).toBe('spec/fixtures/series-faulty');
    expect(loadConfig({ SERIES_DIR: '' }).seriesDir).toBe('');
    expect(loadConfig({}).seriesDir).toBe('series');
  });

  it('takes an empty LOG_LEVEL as its default, as every other variable (reproduced: refused)', () => {
    expect(loadConfig({ LOG_LEVEL: '' }).logLevel).toBe('info');
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL="loud" is invalid/);
  });

  it('makes the process exit non-zero with a message naming the variable', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
      env: childEnv({ PORT: 'nope', SOURCE: 'sim' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/configuration error: PORT="nope" is invalid/);
  });
});
