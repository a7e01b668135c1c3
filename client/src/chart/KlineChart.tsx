import { type Chart, dispose, init } from 'klinecharts';
import { createEffect, on, onCleanup, onMount } from 'solid-js';
import { fetchOlder } from '../api.ts';
import { seriesKey } from '../store/candle.ts';
import { useMarket } from '../store/bridge.ts';
import { createDataLoader } from './data-loader.ts';
import { pricePrecision, toPeriod } from './period.ts';

/** KLineChart's built-ins the header can toggle, and the pane each draws in. */
export const INDICATORS: Record<string, 'candle_pane' | 'own'> = { MA: 'candle_pane', EMA: 'candle_pane', BOLL: 'candle_pane', MACD: 'own', RSI: 'own' };

export function KlineChart(props: { symbol: string; interval: string; theme: 'dark' | 'light'; indicators: string[] }) {
  let el!: HTMLDivElement;
  let chart: Chart | null = null;
  const loader = createDataLoader({ current: () => ({ symbol: props.symbol, interval: props.interval }), fetchOlder });
  const generation = useMarket((s) => s.generationByKey[seriesKey(props.symbol, props.interval)] ?? 0);
  const lastClose = useMarket((s) => s.candlesByKey[seriesKey(props.symbol, props.interval)]?.at(-1)?.close);
  const created = new Set<string>();

  onMount(() => {
    chart = init(el, { styles: props.theme });
    if (!chart) return;
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
