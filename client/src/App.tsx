import { createEffect, createMemo, createSignal, For, on, onCleanup, onMount, Show } from 'solid-js';
import { fetchCatalog, fetchSeriesCatalog } from './api.ts';
import { market } from './store/market.ts';
import { INDICATORS, KlineChart } from './chart/KlineChart.tsx';
import { connectEngine } from './feed/engine-socket.ts';
import { setCatalog, setSelection } from './store/actions.ts';
import { seriesKey } from './store/candle.ts';
import { useMarket } from './store/bridge.ts';
import { readUrlState, writeUrlState } from './url-state.ts';
import { pricePrecision } from './chart/period.ts';

const FALLBACK_INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'];

export function App() {
  const initial = readUrlState();
  const [symbol, setSymbol] = createSignal(initial.symbol);
  const [interval, setInterval_] = createSignal(initial.interval);
  const [indicators, setIndicators] = createSignal<string[]>(initial.indicators.filter((i) => i in INDICATORS));
  const [theme, setTheme] = createSignal<'dark' | 'light'>(initial.theme);
  const [selectedSeries, setSelectedSeries] = createSignal<string[]>(initial.series);
  const seriesCatalog = useMarket((s) => s.seriesCatalog);
  const [query, setQuery] = createSignal('');
  const [pickerOpen, setPickerOpen] = createSignal(false);

  const symbols = useMarket((s) => s.symbols);
  const intervals = useMarket((s) => (s.intervals.length ? s.intervals : FALLBACK_INTERVALS));
  const connection = useMarket((s) => s.connection);
  const upstream = useMarket((s) => s.upstream);
  const source = useMarket((s) => s.source);
  const error = useMarket((s) => s.error);
  const candles = useMarket((s) => s.candlesByKey[seriesKey(s.selection.symbol, s.selection.interval)]);

  onMount(() => {
    fetchCatalog().then(
      (c) => setCatalog(c.symbols, c.intervals, c.source),
      () => undefined, // the socket reports the engine's state; the picker just stays empty
    );
    fetchSeriesCatalog().then(
      (series) => market.setState({ seriesCatalog: series }),
      () => undefined,
    );
  });

  // One socket per chart: switching symbol or interval closes the old one.
  createEffect(
    on([symbol, interval, () => selectedSeries().join(',')], ([s, i, series]) => {
      setSelection(s, i);
      const close = connectEngine({ symbol: s, interval: i, series: series ? series.split(',') : [] });
      onCleanup(close);
    }),
  );
  createEffect(() => writeUrlState({ symbol: symbol(), interval: interval(), indicators: indicators(), theme: theme(), series: selectedSeries() }));
  const chartSeries = createMemo(() =>
    selectedSeries().map((label) => {
      const def = seriesCatalog().find((d) => d.name === label.split(':')[0]);
      return { label, pane: def?.pane ?? 'oscillator', plot: def?.plot ?? null };
    }),
  );
  const toggleSeries = (name: string) => setSelectedSeries((cur) => (cur.includes(name) ? cur.filter((n) => n !== name) : [...cur, name]));
  createEffect(() => document.documentElement.setAttribute('data-theme', theme()));

  const last = createMemo(() => candles()?.at(-1));
  const change = createMemo(() => {
    const list = candles();
    const l = last();
    if (!list?.length || !l) return undefined;
    // Change over the last 24 h when the window reaches that far, else over the whole window.
    const dayAgo = l.time - 86_400_000;
    const ref = list.find((c) => c.time >= dayAgo) ?? list[0]!;
    return ((l.close - ref.open) / ref.open) * 100;
  });
  createEffect(() => {
    const l = last();
    document.title = l ? `${l.close.toFixed(pricePrecision(l.close))} ${symbol()} · ${interval()}` : `${symbol()} · kline-engine`;
  });

  const badge = createMemo(() => {
    const c = connection();
    if (c === 'error') return { text: 'error', cls: 'bad' };
    if (c === 'reconnecting' || c === 'connecting') return { text: c === 'connecting' ? 'connecting' : 'reconnecting', cls: 'warn' };
    if (upstream() === 'reconnecting') return { text: 'reconnecting', cls: 'warn' };
    if (c === 'stale' || upstream() === 'stale') return { text: 'stale', cls: 'warn' };
    return { text: 'live', cls: 'ok' };
  });

  const filtered = createMemo(() => {
    const q = query().trim().toUpperCase();
    return symbols().filter((s) => s.includes(q));
  });
  const pick = (s: string) => {
    setSymbol(s);
    setQuery('');
    setPickerOpen(false);
  };
  const toggle = (name: string) => setIndicators((cur) => (cur.includes(name) ? cur.filter((n) => n !== name) : [...cur, name]));

  return (
    <div class="app">
      <header class="bar">
        <div class="picker">
          <input
            aria-label="symbol"
            data-testid="symbol-search"
            placeholder={symbol()}
            value={query()}
            onFocus={() => setPickerOpen(true)}
            onInput={(e) => {
              setQuery(e.currentTarget.value);
              setPickerOpen(true);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && filtered()[0]) pick(filtered()[0]!);
              if (e.key === 'Escape') setPickerOpen(false);
            }}
            onBlur={() => setTimeout(() => setPickerOpen(false), 150)}
          />
          <Show when={pickerOpen() && filtered().length}>
            <ul class="options" role="listbox">
              <For each={filtered()}>
                {(s) => (
                  <li role="option" data-symbol={s} classList={{ current: s === symbol() }} onMouseDown={() => pick(s)}>
                    {s}
                  </li>
                )}
              </For>
            </ul>
          </Show>
        </div>
        <span class="symbol" data-testid="symbol">{symbol()}</span>
        <span class="price" data-testid="last-price">{last() ? last()!.close.toFixed(pricePrecision(last()!.close)) : '—'}</span>
        <Show when={change() !== undefined}>
          <span class="change" classList={{ up: change()! >= 0, down: change()! < 0 }} data-testid="change">
            {change()! >= 0 ? '+' : ''}
            {change()!.toFixed(2)}%
          </span>
        </Show>
        <nav class="intervals" aria-label="interval">
          <For each={intervals()}>
            {(i) => (
              <button data-interval={i} classList={{ active: i === interval() }} onClick={() => setInterval_(i)}>
                {i}
              </button>
            )}
          </For>
        </nav>
        <nav class="indicators" aria-label="indicators">
          <For each={Object.keys(INDICATORS)}>
            {(name) => (
              <button data-indicator={name} classList={{ active: indicators().includes(name) }} onClick={() => toggle(name)}>
                {name}
              </button>
            )}
          </For>
        </nav>
        <Show when={seriesCatalog().length}>
          <nav class="series" aria-label="derived series">
            <For each={seriesCatalog()}>
              {(d) => (
                <button data-series={d.name} title={d.description} classList={{ active: selectedSeries().includes(d.name) }} onClick={() => toggleSeries(d.name)}>
                  {d.name}
                </button>
              )}
            </For>
          </nav>
        </Show>
        <span class="spacer" />
        <Show when={source() === 'sim'}>
          <span class="badge sim" data-testid="sim-badge" title="The engine runs on its built-in simulated exchange: prices are not real">
            simulated feed
          </span>
        </Show>
        <span class={`badge ${badge().cls}`} data-testid="status">
          {badge().text}
        </span>
        <button class="theme" aria-label="toggle theme" onClick={() => setTheme(theme() === 'dark' ? 'light' : 'dark')}>
          {theme() === 'dark' ? '☀' : '☾'}
        </button>
      </header>
      <Show when={error()}>
        <div class="error" role="alert" data-testid="error">
          {error()}
        </div>
      </Show>
      <KlineChart symbol={symbol()} interval={interval()} theme={theme()} indicators={indicators()} series={chartSeries()} />
    </div>
  );
}
