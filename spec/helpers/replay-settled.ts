import type { App } from '../../engine/src/app.ts';

/** How long the readings must stay the same (ms): work in flight between two reads shows as a change. */
const STEADY_MS = 200;

interface Reading {
  sent: number;
  frames: number;
  gaps: number;
  outcomes: number;
  restWaiting: number;
  loading: number;
}

function read(app: App, sent: number): Reading {
  const m = app.metrics;
  // Gauges are set when /metrics is rendered; engine_rest_waiting has a line per lane.
  const text = m.render();
  let restWaiting = 0;
  for (const [, n] of text.matchAll(/^engine_rest_waiting(?:\{[^}]*\})? (\d+)$/gm)) restWaiting += Number(n);
  return {
    sent,
    frames: m.value('engine_upstream_frames_total'),
    gaps: m.value('engine_gaps_detected_total'),
    outcomes: m.value('engine_gaps_filled_total') + m.value('engine_gaps_unfilled_total'),
    restWaiting,
    loading: m.value('engine_series', { state: 'loading' }),
  };
}

/**
 * Waits until an in-process engine has taken in every frame its exchange sent (`sent`: a replay's
 * `stats.framesSent` once `done`, a paused simulator's), each gap it found has its fill's outcome,
 * no REST call waits and no series is loading, the same over two reads STEADY_MS apart. `done` and
 * `pauseStream()` say only that the frames were sent: a fixed sleep after them lost to a loaded machine.
 */
export async function replaySettled(app: App, sent: () => number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  let steady: string | undefined;
  for (;;) {
    const r = read(app, sent());
    const now = JSON.stringify(r);
    const idle = r.frames === r.sent && r.gaps === r.outcomes && r.restWaiting === 0 && r.loading === 0;
    if (idle && now === steady) return;
    if (Date.now() > end) throw new Error(`timed out waiting for the engine to settle (${ms} ms): ${now}`);
    steady = idle ? now : undefined;
    await new Promise((r) => setTimeout(r, STEADY_MS));
  }
}
