import { sleep } from '../lib/clock.ts';
import { type MeasuredServer, measureWindow, sampleEvery, type WindowStats } from '../lib/measure.ts';
import type { ServerKind } from '../lib/server-under-test.ts';
import { median, sig } from '../lib/stats.ts';
import { type BenchEnv, type Row, type ScenarioOutput, connectClients, timeLeft, withServer } from './context.ts';
import { cpuText, disturbed, keepsUp, limiterOf } from './limits.ts';

export interface RampStep {
  rate: number;
  ok: boolean;
  window: Omit<WindowStats, 'latencyHistogram'>;
  /** What `RampOptions.around` measured over the step. */
  extra?: Record<string, number>;
}

export interface RampOptions {
  /** Other processes of the system under test (a cluster's ingest node and Redis), see MeasureContext. */
  companions?: readonly number[];
  /** Called before each step's window; the function it returns is called after it, its figures kept in the step. */
  around?: () => Promise<() => Promise<Record<string, number>>>;
  /** Messages per second (all clients) of the first step, default START_MSGS_PER_S; and the most steps, default 10 (4 with --quick). */
  startMsgsPerS?: number;
  maxSteps?: number;
  /**
   * Steps spent, after the first rate that falls behind, on the geometric middle between it and the
   * last that kept up (default 0). The ramp climbs by ×√2 near the end, so without them a ratio of two
   * ramps' results can only be 1, 0.71, 0.5…; two steps bring that to about ×1.09.
   */
  refine?: number;
  /**
   * A rate that falls behind is measured once more, and fails only if it falls behind again. Near
   * saturation a 1.5 s window's p99 is set by one late burst: one such window ended a ramp at 118/s
   * per stream where the same system reached 453 and 725 in the next rounds.
   */
  confirmFailures?: boolean;
}

export interface RampResult {
  clients: number;
  symbols: number;
  connectFailures: number;
  steps: RampStep[];
  /** Highest per-stream rate that kept up (0 if none did). */
  maxRate: number;
  /** Messages per second delivered at that rate. */
  deliveredPerS: number;
  p99Ms: number;
  /** Server CPU per delivered message at that rate, µs. */
  serverUsPerMsg: number;
  limiter: string;
}

/** Where ramps start and the most they ask of the load generator (messages per second, all clients). */
const START_MSGS_PER_S = 30_000;
const MAX_MSGS_PER_S = 4_000_000;

const strip = ({ latencyHistogram: _, ...w }: WindowStats) => w;

/**
 * Raises the per-stream rate (doubling from ~10k messages/s in total) until delivery falls behind,
 * p99 passes 100 ms or a client is dropped. Clients stay connected across steps.
 */
export async function ramp(env: BenchEnv, server: MeasuredServer, clients: number, symbols: number, ro: RampOptions = {}): Promise<RampResult> {
  const { quick } = env.opts;
  const { subscribers, conn } = await connectClients(env, server, symbols, clients, 1);
  const steps: RampStep[] = [];
  // From ~30k messages/s in total, doubling; once p99 passes 25 ms or the clients are near a core,
  // by √2 (the next doubling would flood the load generator far past the point being looked for).
  let rate = 2 ** Math.ceil(Math.log2(Math.max(1, (ro.startMsgsPerS ?? START_MSGS_PER_S) / clients)));
  const maxSteps = ro.maxSteps ?? (quick ? 4 : 10);
  let limiter = 'not reached within the step cap';
  let retried = false;
  const measure = async (r: number) => {
    await env.upstream.setRate(r);
    await env.pool.sample(sampleEvery(clients, r));
    await sleep(quick ? 400 : 500);
    const after = await ro.around?.();
    const w = await measureWindow({ upstream: env.upstream, pool: env.pool, server, companions: ro.companions }, quick ? 1.2 : 1.5, subscribers, { pauseAfter: true });
    const extra = await after?.();
    const ok = keepsUp(w, symbols * r);
    steps.push({ rate: r, ok, window: strip(w), ...(extra && { extra }) });
    env.log(`  ${server.kind} C=${clients} S=${symbols} R=${r}/s: ${Math.round(w.deliveredPerS)} msg/s (${(w.ratio * 100).toFixed(1)}%), p99 ${w.latency.p99Ms} ms, ${cpuText(w)}${ok ? '' : '  <- falls behind'}`);
    return { w, ok };
  };
  const confirmed = async (r: number) => {
    const first = await measure(r);
    if (first.ok || !ro.confirmFailures || !timeLeft(env)) return first;
    await sleep(1000);
    return measure(r);
  };
  for (let i = 0; i < maxSteps && timeLeft(env) && clients * rate <= MAX_MSGS_PER_S; i++) {
    const { w, ok } = await confirmed(rate);
    if (!ok && disturbed(w) && !retried) {
      // The machine is shared: a step spoiled by someone else's work is measured once more.
      retried = true;
      i--;
      await sleep(1000);
      continue;
    }
    if (!ok) {
      limiter = limiterOf(w, symbols * rate);
      break;
    }
    rate = Math.round(rate * (w.latency.p99Ms > 25 || w.cpu.clients > 0.9 ? Math.SQRT2 : 2));
  }
  // Between the last rate that kept up and the first that did not (its backlog drained by pauseAfter).
  let low = steps.filter((s) => s.ok).at(-1)?.rate;
  let high = steps.at(-1)?.ok === false ? steps.at(-1)!.rate : undefined;
  for (let k = 0; k < (ro.refine ?? 0) && low !== undefined && high !== undefined && timeLeft(env); k++) {
    const mid = Math.round(Math.sqrt(low * high));
    if (mid <= low || mid >= high) break;
    if ((await confirmed(mid)).ok) low = mid;
    else high = mid;
  }
  await env.upstream.feed(undefined);
  await env.upstream.setRate(0);
  const best = steps.filter((s) => s.ok).sort((a, b) => a.rate - b.rate).at(-1);
  return {
    clients,
    symbols,
    connectFailures: conn.failed,
    steps,
    maxRate: best?.rate ?? 0,
    deliveredPerS: best ? Math.round(best.window.deliveredPerS) : 0,
    p99Ms: best?.window.latency.p99Ms ?? NaN,
    serverUsPerMsg: best ? (best.window.cpu.server * 1e6) / best.window.deliveredPerS : NaN,
    limiter,
  };
}

export function fanoutConfigs(quick: boolean): Array<[clients: number, symbols: number]> {
  return quick
    ? [[100, 1], [500, 20]]
    : [[100, 1], [100, 20], [1000, 1], [1000, 20], [5000, 1], [5000, 20]];
}

/** Scenario 1: fan-out throughput per (clients, symbols), median of the repeated ramps. */
export async function fanout(env: BenchEnv): Promise<ScenarioOutput> {
  const data: FanoutData = {};
  for (const [clients, symbols] of fanoutConfigs(env.opts.quick)) {
    const per: Partial<Record<ServerKind, RampResult[]>> = (data[`C=${clients} S=${symbols}`] = {});
    for (let r = 0; r < env.opts.rampRepeats; r++) {
      for (const kind of env.opts.servers) {
        if (!timeLeft(env)) break;
        const res = await withServer(env, kind, { symbols: env.symbols.slice(0, symbols) }, (s) => ramp(env, s, clients, symbols));
        (per[kind] ??= []).push(res);
      }
    }
  }
  return fanoutReport(data);
}

export type FanoutData = Record<string, Partial<Record<ServerKind, RampResult[]>>>;

/** Table rows and limits from the ramps (also used to re-render a results file). */
export function fanoutReport(data: FanoutData): ScenarioOutput {
  const rows: Row[] = [];
  const limits: string[] = [];
  for (const [label, per] of Object.entries(data)) {
    const med = (f: (x: RampResult) => number) => Object.fromEntries(Object.entries(per).map(([k, rs]) => [k, sig(median(rs!.map(f)))]));
    // CPU per message falls as the rate rises (uWS packs more messages per syscall), so servers are
    // compared at one rate: the highest every server sustained.
    const common = Math.min(...Object.values(per).map((rs) => median(rs!.map((x) => x.maxRate))));
    const atCommon = (x: RampResult) => {
      const step = x.steps.filter((st) => st.ok && st.rate <= common).at(-1);
      return step ? (step.window.cpu.server * 1e6) / step.window.deliveredPerS : NaN;
    };
    rows.push(
      { scenario: 'fan-out', metric: `${label}: delivered msg/s at max sustained rate`, unit: 'msg/s', better: 'higher', values: med((x) => x.deliveredPerS), target: { vsCeiling: 0.8, vsBaseline: 1.5, label: '≥0.8× ceiling, ≥1.5× ws' } },
      { scenario: 'fan-out', metric: `${label}: max sustained updates/s per stream`, unit: '/s', better: 'higher', values: med((x) => x.maxRate) },
      // With 2 cores the load generator often saturates first; CPU per message then compares the servers.
      { scenario: 'fan-out', metric: `${label}: server CPU per delivered msg at ${common}/s (all sustain it)`, unit: 'µs', better: 'lower', values: med(atCommon), target: { vsCeiling: 1.25, label: '≤1.25× ceiling' } },
      { scenario: 'fan-out', metric: `${label}: server CPU per delivered msg at its own max rate`, unit: 'µs', better: 'lower', values: med((x) => x.serverUsPerMsg) },
    );
    for (const [k, rs] of Object.entries(per)) limits.push(`fan-out ${label} ${k}: ${rs!.map((x) => x.limiter).join(' / ')}`);
  }
  return { rows, data, limits };
}
