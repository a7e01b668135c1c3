import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../engine/src/app.ts';
import { type SimExchange, startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { type InProcessCluster, startInProcessCluster } from '../helpers/in-process-cluster.ts';
import { hasRedis } from '../helpers/services.ts';
import { startTestApp } from '../helpers/test-app.ts';

/**
 * An operator review found 34 of the ~65 families served at /metrics documented nowhere, and one
 * (`engine_series`) mixing two label sets, so its sum counted every series twice. docs/metrics.md
 * now lists every family; this keeps it true. It starts ROLE=all and a cluster (an ingest node and
 * an edge, in process, on DB 15 under a prefix of their own), scrapes each, and compares with the
 * tables of docs/metrics.md: names, types, roles and label names. Both the engine and the ingest node
 * run in Binance mode against a simulator, so the Binance-only clock-skew gauge is served as in
 * production.
 */
type Role = 'all' | 'ingest' | 'edge';
const ROLES: readonly Role[] = ['all', 'ingest', 'edge'];
const DOC_PATH = new URL('../../docs/metrics.md', import.meta.url);
/** Declared only where /proc/self/schedstat can be read (server/run-queue-wait.ts). */
const LINUX_ONLY = ['engine_main_thread_runqueue_wait_seconds_total', 'engine_main_thread_cpu_seconds_total'];

interface Documented {
  type: string;
  labels: string;
  roles: Set<Role>;
}

interface Served {
  type: string;
  roles: Set<Role>;
  /** Each distinct set of label names its samples carry ('' for none). */
  labelSets: Set<string>;
}

/** The table rows of docs/metrics.md: `| \`name\` | type | labels | roles | meaning |`. */
function documented(): Map<string, Documented> {
  const rows = new Map<string, Documented>();
  for (const line of readFileSync(DOC_PATH, 'utf8').split('\n')) {
    const m = /^\|\s*`(engine_[a-z0-9_]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|/.exec(line);
    if (!m) continue;
    const roles = new Set(ROLES.filter((r) => new RegExp(`\\b${r}\\b`).test(m[4]!)));
    rows.set(m[1]!, { type: m[2]!.trim(), labels: m[3]!, roles });
  }
  return rows;
}

/** Families, types and label names from a Prometheus text scrape, merged into `into` under `role`. */
function collect(into: Map<string, Served>, role: Role, text: string): void {
  const family = (name: string) => {
    let f = into.get(name);
    if (!f) into.set(name, (f = { type: '', roles: new Set(), labelSets: new Set() }));
    return f;
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      const f = family(type[1]!);
      f.type = type[2]!;
      f.roles.add(role);
      continue;
    }
    const sample = /^([a-z_:][a-z0-9_:]*)(\{.*\})? \S+$/.exec(line);
    if (!sample) continue;
    const names = [...(sample[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)].map((l) => l[1]!).sort();
    family(sample[1]!).labelSets.add(names.join(','));
  }
}

const redisUp = await hasRedis('docs/metrics.md lists every metric family each role serves');

describe.runIf(redisUp)('docs/metrics.md lists every metric family each role serves', () => {
  let sim: SimExchange;
  let app: App;
  let cluster: InProcessCluster;
  const served = new Map<string, Served>();
  const docs = documented();

  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 200 });
    const binance = { source: 'binance' as const, restUrl: sim.restUrl, wsUrl: sim.wsUrl };
    const common = { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50 };
    app = await startTestApp({ ...binance, ...common, seriesDir: '' });
    await app.ready;
    cluster = await startInProcessCluster({ name: 'metrics-documented', common, ingest: { ...binance, simOptions: {} } });
    await cluster.edgeReady();
    const urls: Record<Role, string> = { all: app.url, ingest: cluster.ingest.app.url, edge: cluster.edge.url };
    for (const role of ROLES) collect(served, role, await (await fetch(`${urls[role]}/metrics`)).text());
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
    await app?.stop();
    await sim?.close();
  }, 30_000);

  it('scraped every role and read the tables', () => {
    for (const role of ROLES) expect([...served.values()].some((f) => f.roles.has(role)), `no family from ROLE=${role}`).toBe(true);
    expect(docs.size).toBeGreaterThan(50);
  });

  it('documents every family a role serves', () => {
    const missing = [...served].filter(([name]) => !docs.has(name)).map(([name, f]) => `${name} (served by ${[...f.roles].join(', ')})`);
    expect(missing, `served at /metrics but not in docs/metrics.md: ${missing.join('; ')}`).toEqual([]);
  });

  it('documents no family that no role serves', () => {
    const optional = existsSync('/proc/self/schedstat') ? [] : LINUX_ONLY;
    const stale = [...docs.keys()].filter((name) => !served.has(name) && !optional.includes(name));
    expect(stale, `in docs/metrics.md but served by no role: ${stale.join('; ')}`).toEqual([]);
  });

  it("gives each family its served type and the roles that serve it", () => {
    const wrong: string[] = [];
    for (const [name, f] of served) {
      const d = docs.get(name);
      if (!d) continue;
      if (d.type !== f.type) wrong.push(`${name}: documented ${d.type}, served as ${f.type}`);
      const said = [...d.roles].sort().join(', ');
      const real = [...f.roles].sort().join(', ');
      if (said !== real) wrong.push(`${name}: documented for ${said || 'no role'}, served by ${real}`);
    }
    expect(wrong).toEqual([]);
  });

  it('each family carries one label set, every label name documented (a sum counts each thing once)', () => {
    const wrong: string[] = [];
    for (const [name, f] of served) {
      if (f.labelSets.size > 1) wrong.push(`${name} mixes label sets {${[...f.labelSets].join('} {')}}`);
      const d = docs.get(name);
      for (const label of new Set([...f.labelSets].flatMap((s) => (s ? s.split(',') : [])))) {
        if (d && !d.labels.includes(`\`${label}\``)) wrong.push(`${name}: label ${label} not documented`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
