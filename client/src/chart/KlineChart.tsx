import { type Chart, dispose, init, type IndicatorCreate, type Locales, registerLocale, type SmoothLineStyle } from 'klinecharts';
import { createEffect, createMemo, For, on, onCleanup, onMount, Show } from 'solid-js';
import { fetchOlder, fetchSeriesPoints, SeriesFailedError } from '../api.ts';
import { countdownText } from '../feed/exchange-clock.ts';
import { seriesKey } from '../store/candle.ts';
import { useMarket } from '../store/bridge.ts';
import { market } from '../store/market.ts';
import { mergeSeriesPoints, seriesPointsKey, setSeriesStatus } from '../store/series-points.ts';
import type { ChartType, IndicatorConfig, Scale } from '../url-state.ts';
import { applyScale, chartTypeStyles, countdownStyles } from './chart-look.ts';
import { createDataLoader, OLDER_PAGE } from './data-loader.ts';
import { registerChartHotkeys } from './hotkeys.ts';
import { PERIOD_SUFFIXES, pricePrecision, toPeriod } from './period.ts';
import { UNFOLDED_DECIMALS } from './unfolded-decimals.ts';
import { chartFocus } from './chart-focus.ts';
import { registerSeriesIndicator, seriesCalc, seriesIndicatorName } from './series-indicator.ts';

/** KLineChart's built-ins the chart offers, and the pane each draws in. */
export const INDICATORS: Record<string, 'candle_pane' | 'own'> = { MA: 'candle_pane', EMA: 'candle_pane', BOLL: 'candle_pane', MACD: 'own', RSI: 'own' };

export interface ChartSeries {
  label: string;
  pane: 'overlay' | 'oscillator';
  plot: string[] | null;
  colors?: string[];
  hidden?: boolean;
}

export interface KlineChartProps {
  symbol: string;
  interval: string;
  theme: 'dark' | 'light';
  indicators: IndicatorConfig[];
  series: ChartSeries[];
  type: ChartType;
  scale: Scale;
  /** The chart once it exists (and null when it goes): drawing tools and settings work on it. */
  onChart?: (chart: Chart | null) => void;
}

/** Series whose settled first bar is kept (see settledFirst): past it the list starts over (a day of browsing stays flat). */
const MAX_SETTLED = 64;

/** Line styles with the given colours over the theme's defaults (KLineChart replaces the whole array). */
function lineStyles(chart: Chart, colors: string[] | undefined): { lines: SmoothLineStyle[] } | undefined {
  if (!colors?.length) return undefined;
  const base = chart.getStyles().indicator.lines;
  return { lines: base.map((l, i) => ({ ...l, color: colors[i] ?? l.color })) };
}

/** Fetch pages of a series' points back to `from` (bounded): for a series turned on over scrolled-back history, or bars a resume brought. */
export async function backfillSeries(label: string, symbol: string, interval: string, from: number, to: number, maxPages = 20): Promise<void> {
  let end = to;
  for (let page = 0; page < maxPages && end >= from; page++) {
    const points = await fetchSeriesPoints(label, symbol, interval, end, OLDER_PAGE);
    mergeSeriesPoints(label, symbol, interval, points);
    const earliest = points.reduce((m, p) => Math.min(m, p.time), Infinity);
    if (!points.length || earliest >= end) return;
    end = earliest - 1;
  }
}

export function KlineChart(props: KlineChartProps) {
  let el!: HTMLDivElement;
  let chart: Chart | null = null;
  const current = () => ({ symbol: props.symbol, interval: props.interval });
  const fetchSeriesPage = (label: string, symbol: string, interval: string, endTime: number, limit: number) =>
    fetchSeriesPoints(label, symbol, interval, endTime, limit).then(
      (points) => mergeSeriesPoints(label, symbol, interval, points),
      (e: unknown) => {
        if (e instanceof SeriesFailedError) setSeriesStatus(label, symbol, interval, { state: 'failed', error: e.message });
        throw e;
      },
    );
  const loader = createDataLoader({
    current,
    fetchOlder,
    series: () => props.series.map((s) => s.label),
    fetchSeriesPage,
    chartBars: () => chart?.getDataList(),
    visibleFrom: () => chart?.getVisibleRange().from,
    // Many bars at once (back from a background tab): one reload, what the chart shows kept.
    reload: () => chart && reloadKeepingView(chart, true),
  });
  /**
   * Reloads the chart from the store. A reload of the series shown (not a switch) keeps its
   * scrolled-back pages, and a trader looking at older bars keeps looking at them.
   */
  /** Reloads the chart from the store (`reset`: KLineChart's own reset, or a setSymbol, which resets too), keeping the bars in view when `same`. */
  const reloadKeepingView = (c: Chart, same: boolean, reset = () => c.resetData()) => {
    const bars = c.getDataList();
    const range = c.getVisibleRange();
    const anchor = same && range.realTo < bars.length ? bars[Math.max(0, range.realTo - 1)]?.timestamp : undefined;
    const xOf = (timestamp: number) => (c.convertToPixel({ timestamp }, { paneId: 'candle_pane' }) as { x?: number }).x;
    const was = anchor === undefined ? undefined : xOf(anchor);
    if (same) loader.carry(key(), bars);
    reset();
    if (anchor === undefined) return;
    c.scrollToTimestamp(anchor, 0);
    // The anchor at the pixel it was at (it was partly shown: scrolling to it alone moved the view up to a bar).
    const now = xOf(anchor);
    if (was !== undefined && now !== undefined && Number.isFinite(was - now)) c.scrollByDistance(was - now, 0);
  };
  const key = () => seriesKey(props.symbol, props.interval);
  const generation = useMarket((s) => s.generationByKey[key()] ?? 0);
  const lastClose = useMarket((s) => s.candlesByKey[key()]?.at(-1)?.close);
  const connection = useMarket((s) => s.connection);
  const created = new Map<string, string>();
  /** Derived series drawn: their pane and lines (drawn again when the catalog, asked again after a failure, says otherwise). */
  const drawnSeries = new Map<string, { pane: string; keys: string[] }>();
  // Any change to a shown series' points: recalculate it (at most once per frame).
  const sameItems = <T,>(a: readonly T[], b: readonly T[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  // A series' points are changed in place; their version says when.
  const seriesVersion = useMarket((s) => props.series.map((x) => s.seriesPointsVersion[seriesPointsKey(x.label, props.symbol, props.interval)] ?? 0), market, sameItems);
  const failures = useMarket((s) =>
    props.series.flatMap((x) => {
      const st = s.seriesStatus[seriesPointsKey(x.label, props.symbol, props.interval)];
      return st?.state === 'failed' ? [{ label: x.label, error: st.error }] : [];
    }),
    market,
    (a, b) => JSON.stringify(a) === JSON.stringify(b),
  );
  // Whether the store holds candles of the series selected (the chart then shows them, or will at the next frame).
  const candlesByKey = useMarket((s) => s.candlesByKey);
  const hasCandles = createMemo(() => (candlesByKey()[key()]?.length ?? 0) > 0);
  // Over the chart while it has nothing of the selected series, whatever the socket's state: a first
  // socket that failed turns `connecting` into `reconnecting` within milliseconds, and a refusal into
  // `error`, and the overlay went with them (a review: an empty chart, or another series', unexplained).
  const loading = createMemo(() => connection() === 'loading' || !hasCandles());
  const overlayText = () => {
    const what = `${props.symbol} · ${props.interval}`;
    const c = connection();
    if (c === 'error') return `No data for ${what}`;
    if (c === 'reconnecting') return `Waiting for the engine: ${what}…`;
    return `Loading ${what}…`;
  };

  onMount(() => {
    // Merged into the built-in en-US texts (KLineChart spreads the old locale under it), hence the cast.
    registerLocale('en-US', PERIOD_SUFFIXES as Partial<Locales> as Locales);
    chart = init(el, { styles: props.theme, decimalFold: UNFOLDED_DECIMALS });
    if (!chart) return;
    const c = chart;
    registerChartHotkeys();
    const container = chartFocus(el);
    createEffect(() => container?.setAttribute('aria-label', `${props.symbol} ${props.interval} price chart`));
    // Debug/test handle, like window.__market.
    (window as unknown as { __chart?: Chart }).__chart = c;
    c.setSymbol({ ticker: props.symbol, pricePrecision: 2, volumePrecision: 4 });
    c.setPeriod(toPeriod(props.interval));
    c.setStyles(countdownStyles());
    c.setFormatter({
      formatExtendText: ({ data }) => countdownText(data.timestamp, props.interval, Date.now() + market.getState().clockSkew),
    });
    c.setDataLoader(loader);
    c.createIndicator('VOL');
    props.onChart?.(c);
    const resize = () => c.resize();
    window.addEventListener('resize', resize);
    const observer = new ResizeObserver(resize);
    observer.observe(el);
    onCleanup(() => {
      window.removeEventListener('resize', resize);
      observer.disconnect();
    });

    // Decimals shown, per series: only ever more within one. Each setSymbol resets KLineChart's data:
    // a stablecoin ticking 0.9999 <-> 1.0000 (or a coin around 100) reloaded the chart at every
    // crossing, dropping the history scrolled back to (a review).
    let digits = { key: key(), value: 2 };
    const digitsFor = (k: string) => {
      const close = market.getState().candlesByKey[k]?.at(-1)?.close;
      return close === undefined ? 2 : pricePrecision(close);
    };
    // The series the chart's data belongs to (a generation change may come with a switch).
    let shownKey = key();
    createEffect(
      on([() => props.symbol, () => props.interval], ([symbol, interval], prev) => {
        if (!prev) return;
        shownKey = seriesKey(symbol, interval);
        digits = { key: shownKey, value: digitsFor(shownKey) };
        c.setSymbol({ ticker: symbol, pricePrecision: digits.value, volumePrecision: 4 });
        c.setPeriod(toPeriod(interval));
      }),
    );
    // A fresh `historical` (first load, or a reconnect that could not resume) replaces the series: reload
    // from the store, once per frame. (A bar older than the newest that changed, a hole repaired late or
    // a resume's corrections, is put in place by the loader, without a reload.)
    let resetFrame: number | undefined;
    createEffect(
      on(generation, (g, prev) => {
        if (prev === undefined || g <= 0 || resetFrame !== undefined) return;
        resetFrame = requestAnimationFrame(() => {
          resetFrame = undefined;
          // The loader's key: the chart may still hold the previous series' bars (a switch in this frame).
          reloadKeepingView(c, loader.shownKey() === key());
          shownKey = key();
        });
      }),
    );
    onCleanup(() => resetFrame !== undefined && cancelAnimationFrame(resetFrame));
    createEffect(
      on(lastClose, (close) => {
        if (close === undefined) return;
        const precision = pricePrecision(close);
        const k = key();
        // A series' first price sets them; a price that needs more adds them, keeping the view.
        if (digits.key === k && precision <= digits.value) return;
        const keep = digits.key === k;
        digits = { key: k, value: precision };
        if (c.getSymbol()?.pricePrecision === precision) return;
        const apply = () => c.setSymbol({ ticker: props.symbol, pricePrecision: precision, volumePrecision: 4 });
        if (keep) reloadKeepingView(c, loader.shownKey() === k, apply);
        else apply();
      }),
    );
    createEffect(on(() => props.theme, (t) => c.setStyles(t), { defer: true }));
    createEffect(on(() => props.type, (t) => c.setStyles(chartTypeStyles(t))));
    createEffect(on(() => props.scale, (s) => applyScale(c, s)));

    // Derived series: created once their first point tells the figure keys; colours and visibility follow the settings.
    let recalcFrame: number | undefined;
    createEffect(
      on([() => JSON.stringify(props.series), seriesVersion], () => {
        const wanted = new Set(props.series.map((x) => x.label));
        for (const label of [...drawnSeries.keys()]) {
          const x = props.series.find((s) => s.label === label);
          const drawn = drawnSeries.get(label)!;
          // Gone, or drawn before the catalog told its pane and lines (it came late): removed, drawn again below.
          if (!wanted.has(label) || (x && (x.pane !== drawn.pane || (x.plot !== null && x.plot.join() !== drawn.keys.join())))) {
            c.removeIndicator({ name: seriesIndicatorName(label) });
            drawnSeries.delete(label);
          }
        }
        for (const x of props.series) {
          const name = seriesIndicatorName(x.label);
          const points = market.getState().seriesPoints[seriesPointsKey(x.label, props.symbol, props.interval)];
          if (!points?.size) continue;
          const styles = lineStyles(c, x.colors);
          if (!drawnSeries.has(x.label)) {
            // Every line the series declares, or else every key its points have: a line whose first
            // point had no value (a band on a flat window, a signal that starts later) was never drawn (a review).
            const keys = x.plot ?? [...new Set([...points.values()].flatMap((p) => Object.keys(p)))];
            registerSeriesIndicator(x.label, keys, current);
            const create: IndicatorCreate = { name, visible: !x.hidden, ...(styles ? { styles } : {}) };
            const ok = x.pane === 'overlay' ? c.createIndicator({ ...create, paneId: 'candle_pane' }, true) : c.createIndicator(create);
            if (ok) drawnSeries.set(x.label, { pane: x.pane, keys });
            continue;
          }
          c.overrideIndicator({ name, visible: !x.hidden, ...(styles ? { styles } : {}) });
        }
        // New points (live, an older page, a backfill): a fresh calc reference makes KLineChart recalculate.
        if (recalcFrame === undefined) {
          recalcFrame = requestAnimationFrame(() => {
            recalcFrame = undefined;
            for (const x of props.series) {
              const drawn = drawnSeries.get(x.label);
              if (drawn) c.overrideIndicator({ name: seriesIndicatorName(x.label), calc: seriesCalc(x.label, drawn.keys, current) });
            }
          });
        }
      }),
    );
    onCleanup(() => recalcFrame !== undefined && cancelAnimationFrame(recalcFrame));

    // A series turned on while the chart shows history older than its snapshot: fetch its points back to the first bar.
    createEffect(
      on(seriesVersion, () => {
        // Only over the bars of this series (a switch changes the points before the chart's bars).
        const first = loader.shownKey() === key() ? c.getDataList()[0]?.timestamp : undefined;
        if (first === undefined) return;
        props.series.forEach((x) => {
          const pointsKey = seriesPointsKey(x.label, props.symbol, props.interval);
          const map = market.getState().seriesPoints[pointsKey];
          // Once per first bar: scanned on every point, a series' up to 22,000 times cost each live
          // update a walk over all of them (a review). Its points only reach further back from there.
          if (!map?.size || settledFirst.get(pointsKey) === first) return;
          let earliest = Infinity;
          for (const t of map.keys()) if (t < earliest) earliest = t;
          if (settledFirst.size >= MAX_SETTLED) settledFirst.clear();
          settledFirst.set(pointsKey, first);
          if (earliest <= first) return;
          void backfillSeries(x.label, props.symbol, props.interval, first, earliest - 1).catch(() => undefined);
        });
      }),
    );

    // Built-in indicators: created, re-parameterised, recoloured, hidden as the settings say.
    createEffect(
      on(
        () => JSON.stringify(props.indicators),
        () => {
          const wanted = new Map(props.indicators.filter((i) => i.name in INDICATORS).map((i) => [i.name, i]));
          for (const [name] of created) {
            if (!wanted.has(name)) {
              c.removeIndicator({ name });
              created.delete(name);
            }
          }
          for (const [name, cfg] of wanted) {
            const styles = lineStyles(c, cfg.colors);
            const spec: IndicatorCreate = { name, visible: !cfg.hidden, ...(cfg.params?.length ? { calcParams: cfg.params } : {}), ...(styles ? { styles } : {}) };
            const sig = JSON.stringify(cfg);
            if (!created.has(name)) {
              const ok = INDICATORS[name] === 'candle_pane' ? c.createIndicator({ ...spec, paneId: 'candle_pane' }, true) : c.createIndicator(spec);
              if (ok) created.set(name, sig);
            } else if (created.get(name) !== sig) {
              c.overrideIndicator(spec);
              created.set(name, sig);
            }
          }
        },
      ),
    );
  });
  /** Per series (`label|SYMBOL:interval`): the chart's first bar its points were last found or fetched back to. */
  const settledFirst = new Map<string, number>();

  onCleanup(() => {
    loader.dispose();
    props.onChart?.(null);
    if (el) dispose(el);
    chart = null;
  });

  return (
    <div class="chart-wrap">
      <div ref={el} class="chart" data-testid="chart" />
      <Show when={loading()}>
        <div class="chart-loading" data-testid="chart-loading" role="status">
          {overlayText()}
        </div>
      </Show>
      <Show when={failures().length}>
        <ul class="series-errors" role="status" data-testid="series-errors">
          <For each={failures()}>
            {(f) => (
              <li data-series-error={f.label}>
                <strong>{f.label}</strong> failed: {f.error}
              </li>
            )}
          </For>
        </ul>
      </Show>
    </div>
  );
}
