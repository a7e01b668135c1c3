import { type Chart, dispose, init } from 'klinecharts';
import { createEffect, on, onCleanup, onMount } from 'solid-js';
import { fetchOlder } from '../api.ts';
import { seriesKey } from '../store/candle.ts';
import { useMarket } from '../store/bridge.ts';
import { createDataLoader } from './data-loader.ts';
import { pricePrecision, toPeriod } from './period.ts';
import { registerSeriesIndicator, seriesIndicatorName } from './series-indicator.ts';
import { seriesPointsKey } from '../store/series-points.ts';
import { market } from '../store/market.ts';

/** KLineChart's built-ins the header can toggle, and the pane each draws in. */
export const INDICATORS: Record<string, 'candle_pane' | 'own'> = { MA: 'candle_pane', EMA: 'candle_pane', BOLL: 'candle_pane', MACD: 'own', RSI: 'own' };

export interface ChartSeries {
  label: string;
  pane: 'overlay' | 'oscillator';
  plot: string[] | null;
}

export function KlineChart(props: { symbol: string; interval: string; theme: 'dark' | 'light'; indicators: string[]; series: ChartSeries[] }) {
  let el!: HTMLDivElement;
  let chart: Chart | null = null;
  const loader = createDataLoader({ current: () => ({ symbol: props.symbol, interval: props.interval }), fetchOlder });
  const generation = useMarket((s) => s.generationByKey[seriesKey(props.symbol, props.interval)] ?? 0);
  const lastClose = useMarket((s) => s.candlesByKey[seriesKey(props.symbol, props.interval)]?.at(-1)?.close);
  const created = new Set<string>();
  const drawnSeries = new Set<string>();
  // Any change to a shown series' points: redraw (KLineChart recalculates indicators on data changes).
  const seriesVersion = useMarket((s) => props.series.map((x) => s.seriesPoints[seriesPointsKey(x.label, props.symbol, props.interval)]?.size ?? 0).join(','));

  onMount(() => {
    chart = init(el, { styles: props.theme });
    if (!chart) return;
    // Debug/test handle, like window.__market.
    (window as unknown as { __chart?: Chart }).__chart = chart;
    chart.setSymbol({ ticker: props.symbol, pricePrecision: 2, volumePrecision: 4 });
    chart.setPeriod(toPeriod(props.interval));
    chart.setDataLoader(loader);
    chart.createIndicator('VOL');
    const resize = () => chart?.resize();
    window.addEventListener('resize', resize);
    onCleanup(() => window.removeEventListener('resize', resize));

    createEffect(
      on([() => props.symbol, () => props.interval], ([symbol, interval], prev) => {
        if (!prev) return;
        chart?.setSymbol({ ticker: symbol, pricePrecision: 2, volumePrecision: 4 });
        chart?.setPeriod(toPeriod(interval));
      }),
    );
    // A fresh `historical` (first load or after a reconnect) replaces the series: reload from the store.
    createEffect(on(generation, (g, prev) => prev !== undefined && g > 0 && chart?.resetData()));
    createEffect(
      on(lastClose, (close) => {
        if (close === undefined || !chart) return;
        const precision = pricePrecision(close);
        if (chart.getSymbol()?.pricePrecision !== precision) chart.setSymbol({ ticker: props.symbol, pricePrecision: precision, volumePrecision: 4 });
      }),
    );
    createEffect(on(() => props.theme, (t) => chart?.setStyles(t)));
    createEffect(
      on([() => props.series.map((x) => x.label).join(','), seriesVersion], () => {
        if (!chart) return;
        const wanted = new Set(props.series.map((x) => x.label));
        for (const label of [...drawnSeries]) {
          if (!wanted.has(label)) {
            chart.removeIndicator({ name: seriesIndicatorName(label) });
            drawnSeries.delete(label);
          }
        }
        for (const x of props.series) {
          if (drawnSeries.has(x.label)) continue;
          // Figure keys come from the engine's first point (known once the snapshot has arrived).
          const first = market.getState().seriesPoints[seriesPointsKey(x.label, props.symbol, props.interval)]?.values().next().value;
          if (!first) continue;
          const keys = (x.plot ?? Object.keys(first)).filter((k) => k in first);
          registerSeriesIndicator(x.label, keys, () => ({ symbol: props.symbol, interval: props.interval }));
          const ok = x.pane === 'overlay' ? chart.createIndicator({ name: seriesIndicatorName(x.label), paneId: 'candle_pane' }, true) : chart.createIndicator(seriesIndicatorName(x.label));
          if (ok) drawnSeries.add(x.label);
        }
      }),
    );
    createEffect(
      on(
        () => props.indicators.join(','),
        () => {
          if (!chart) return;
          for (const name of [...created]) {
            if (!props.indicators.includes(name)) {
              chart.removeIndicator({ name });
              created.delete(name);
            }
          }
          for (const name of props.indicators) {
            if (created.has(name) || !(name in INDICATORS)) continue;
            const ok = INDICATORS[name] === 'candle_pane' ? chart.createIndicator({ name, paneId: 'candle_pane' }, true) : chart.createIndicator(name);
            if (ok) created.add(name);
          }
        },
      ),
    );
  });

  onCleanup(() => {
    loader.dispose();
    if (el) dispose(el);
    chart = null;
  });

  return <div ref={el} class="chart" data-testid="chart" />;
}
