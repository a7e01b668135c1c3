import type { Chart } from 'klinecharts';
import { createEffect, createMemo, createSignal, For, lazy, on, onCleanup, onMount, Show, Suspense } from 'solid-js';
import { canonicalSeriesLabel, fetchCatalog, fetchSeriesCatalog, fetchSeriesPoints, seriesLabel, seriesOffered, splitSeriesLabel } from './api.ts';
import { priceText } from './chart/price-text.ts';
import { INDICATORS, KlineChart } from './chart/KlineChart.tsx';
import { Popover } from './components/Popover.tsx';
import { hasDrawings } from './drawing/has-drawings.ts';
import { connectEngine } from './feed/engine-socket.ts';
import { SymbolPicker } from './picker/SymbolPicker.tsx';
import { splitSymbol } from './picker/search-markets.ts';
import type { SettingsChange, SettingsModel } from './settings/param-field.ts';
import { setCatalog, setSelection } from './store/actions.ts';
import { useMarket } from './store/bridge.ts';
import { seriesKey } from './store/candle.ts';
import { market } from './store/market.ts';
import { mergeSeriesPoints, seriesPointsKey } from './store/series-points.ts';
import { untilFetched } from './feed/until-fetched.ts';
import { CHART_TYPES, type ChartType, type IndicatorConfig, readUrlState, type Scale, SCALES, writeUrlState } from './url-state.ts';
import { statusBadge, type StatusBadge } from './status-badge.ts';
import { droppedNotice, offeredSeries, seriesToggle } from './offered-series.ts';
import { spanLabel, windowChange } from './window-change.ts';
import { menuAfterPanel } from './menu-after-panel.ts';

// Opened by some users only: fetched on first use, out of the main bundle.
const DrawingLayer = lazy(() => import('./drawing/DrawingLayer.tsx'));
const IndicatorSettings = lazy(() => import('./settings/IndicatorSettings.tsx'));

const FALLBACK_INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'];
/** How often an open page asks for the markets and derived series again (the engine follows the exchange's hourly). */
const CATALOG_REFRESH_MS = 10 * 60_000;
const TYPE_LABELS: Record<ChartType, string> = { candles: 'Candles', hollow: 'Hollow candles', bars: 'OHLC bars', line: 'Line', area: 'Area' };
const SCALE_LABELS: Record<Scale, string> = { linear: 'Linear', log: 'Logarithmic', percent: 'Percent' };
/** Names of KLineChart's built-in parameters, for the settings form. */
const PARAM_NAMES: Record<string, string[]> = { BOLL: ['period', 'std devs'], MACD: ['fast', 'slow', 'signal'] };

const seriesName = (label: string) => splitSeriesLabel(label).name;

export function App() {
  const initial = readUrlState();
  const [symbol, setSymbol] = createSignal(initial.symbol);
  const [interval, setInterval_] = createSignal(initial.interval);
  const [indicators, setIndicators] = createSignal<IndicatorConfig[]>(initial.indicators.filter((i) => i.name in INDICATORS));
  const [series, setSeries] = createSignal<IndicatorConfig[]>(initial.series);
  const [theme, setTheme] = createSignal<'dark' | 'light'>(initial.theme);
  const [chartType, setChartType] = createSignal<ChartType>(initial.type);
  const [scale, setScale] = createSignal<Scale>(initial.scale);
  const [chart, setChart] = createSignal<Chart | null>(null);
  const [drawOpen, setDrawOpen] = createSignal(false);
  const [menuOpen, setMenuOpen] = createSignal(false);
  /** What the page changed in the view on its own (a series the engine would refuse), until dismissed. */
  const [notice, setNotice] = createSignal<string | undefined>();
  const [settingsFor, setSettingsFor] = createSignal<{ kind: 'builtin' | 'series'; name: string } | null>(null);
  let search: HTMLInputElement | undefined;

  const seriesCatalog = useMarket((s) => s.seriesCatalog);
  const intervals = useMarket((s) => (s.intervals.length ? s.intervals : FALLBACK_INTERVALS));
  const markets = useMarket((s) => s.markets);
  const connection = useMarket((s) => s.connection);
  const upstream = useMarket((s) => s.upstream);
  const source = useMarket((s) => s.source);
  const error = useMarket((s) => s.error);
  const candles = useMarket((s) => s.candlesByKey[seriesKey(s.selection.symbol, s.selection.interval)]);

  onMount(() => {
    // Asked again until they answer (the socket reports the engine's state meanwhile), and every
    // CATALOG_REFRESH_MS after: markets are listed and delisted while a chart stays open all day.
    const markets = untilFetched(fetchCatalog, (c) => setCatalog(c), { refreshMs: CATALOG_REFRESH_MS });
    const seriesDefs = untilFetched(fetchSeriesCatalog, (defs) => {
      market.setState({ seriesCatalog: defs });
      // The link's labels in the engine's spelling (its messages are keyed by it), without those the
      // engine would refuse the whole socket for (one bad entry blanked the chart: a review).
      setSeries((cur) => {
        const canonical = cur.some((c) => canonicalSeriesLabel(c.name, defs) !== c.name) ? cur.map((c) => ({ ...c, name: canonicalSeriesLabel(c.name, defs) })) : cur;
        const { kept, dropped } = offeredSeries(canonical, defs);
        if (!dropped.length) return canonical;
        setNotice(droppedNotice(dropped));
        return kept;
      });
    }, { refreshMs: CATALOG_REFRESH_MS });
    onCleanup(() => {
      markets.stop();
      seriesDefs.stop();
    });
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const typing = t?.tagName === 'INPUT' || t?.tagName === 'TEXTAREA' || t?.isContentEditable;
      if (e.key === '/' && !typing) {
        e.preventDefault();
        search?.focus();
      } else if (e.key === 'Escape') {
        setSettingsFor(null);
        setMenuOpen(false);
      }
    };
    document.addEventListener('keydown', onKey);
    onCleanup(() => document.removeEventListener('keydown', onKey));
  });

  // One socket per chart: switching symbol, interval or series closes the old one.
  createEffect(
    on([symbol, interval, () => series().map((s) => s.name).join(',')], ([s, i, labels]) => {
      setSelection(s, i);
      const wanted = labels ? labels.split(',') : [];
      const close = connectEngine({
        symbol: s,
        interval: i,
        series: wanted,
        // Refused before the catalog could weed it out: dropped, and the socket opened again without it.
        onSeriesRefused: (name, message) => {
          setNotice(`${message}: series '${name}' removed from the view`);
          setSeries((cur) => cur.filter((c) => seriesName(c.name) !== name));
        },
        // A resume brings the bars missed while away; their derived-series points come from the series endpoint.
        onRecovered: (bars, missing) => {
          const last = bars.at(-1)!.time;
          for (const label of missing) {
            fetchSeriesPoints(label, s, i, last, Math.min(500, bars.length + 2)).then(
              (points) => mergeSeriesPoints(label, s, i, points),
              () => undefined,
            );
          }
        },
      });
      onCleanup(close);
    }),
  );
  // A panel opened from the phone's menu (drawing tools, an indicator's settings) is not left under it.
  const panelOpen = () => drawOpen() || settingsFor() !== null;
  createEffect(on(panelOpen, (open, wasOpen) => setMenuOpen((m) => menuAfterPanel(m, open, wasOpen ?? false)), { defer: true }));
  createEffect(() => writeUrlState({ symbol: symbol(), interval: interval(), indicators: indicators(), theme: theme(), series: series(), type: chartType(), scale: scale() }));
  createEffect(() => document.documentElement.setAttribute('data-theme', theme()));

  const chartSeries = createMemo(() =>
    series().map((cfg) => {
      const def = seriesCatalog().find((d) => d.name === seriesName(cfg.name));
      return { label: cfg.name, pane: def?.pane ?? 'oscillator', plot: def?.plot ?? null, colors: cfg.colors, hidden: cfg.hidden };
    }),
  );
  const toggleSeries = (name: string) => setSeries((cur) => (cur.some((c) => seriesName(c.name) === name) ? cur.filter((c) => seriesName(c.name) !== name) : [...cur, { name }]));
  const toggle = (name: string) => setIndicators((cur) => (cur.some((c) => c.name === name) ? cur.filter((c) => c.name !== name) : [...cur, { name }]));

  const last = createMemo(() => candles()?.at(-1));
  const windowed = createMemo(() => {
    const list = candles();
    return list ? windowChange(list, interval()) : undefined;
  });
  const change = () => windowed()?.pct;
  /** Said when the change covers less than a day (the window does not reach that far back). */
  const shortSpan = () => {
    const w = windowed();
    return w && w.spanMs < 86_400_000 ? spanLabel(w.spanMs) : undefined;
  };
  createEffect(() => {
    const l = last();
    document.title = l ? `${priceText(l.close)} ${symbol()} · ${interval()}` : `${symbol()} · kline-engine`;
  });
  const pair = createMemo(() => markets().find((m) => m.symbol === symbol()) ?? splitSymbol(symbol()));

  const badge = createMemo<StatusBadge>((previous) => statusBadge(connection(), upstream(), previous));

  // The settings form of the indicator being edited, from the chart's indicator (built-ins) or the engine's declaration (derived series).
  const settingsModel = createMemo((): SettingsModel | undefined => {
    const target = settingsFor();
    const c = chart();
    if (!target || !c) return undefined;
    const lineDefaults = c.getStyles().indicator.lines.map((l) => l.color);
    if (target.kind === 'builtin') {
      const cfg = indicators().find((i) => i.name === target.name);
      const ind = c.getIndicators({ name: target.name })[0];
      if (!cfg || !ind) return undefined;
      const calc = (ind.calcParams as unknown[]).filter((v): v is number => typeof v === 'number');
      const lineFigures = ind.figures.filter((f) => (f.type ?? 'line') === 'line');
      return {
        title: target.name,
        params: calc.map((v, i) => ({ key: String(i), label: PARAM_NAMES[target.name]?.[i] ?? `period ${i + 1}`, value: cfg.params?.[i] ?? v, min: target.name === 'BOLL' && i === 1 ? 0.1 : 1, max: 1000, integer: Number.isInteger(v) })),
        colors: lineFigures.map((f, i) => ({ key: f.title?.replace(/[:\s]+$/, '') || f.key, value: cfg.colors?.[i] ?? lineDefaults[i] ?? '#888888' })),
        hidden: cfg.hidden === true,
      };
    }
    const cfg = series().find((s) => seriesName(s.name) === target.name);
    const def = seriesCatalog().find((d) => d.name === target.name);
    if (!cfg || !def) return undefined;
    const given = Object.fromEntries(splitSeriesLabel(cfg.name).params);
    const first = market.getState().seriesPoints[seriesPointsKey(cfg.name, symbol(), interval())]?.values().next().value as Record<string, number> | undefined;
    const keys = def.plot ?? Object.keys(first ?? { value: 0 });
    return {
      title: def.name,
      params: def.params.map((p) => {
        const raw = given[p.name];
        const value = raw === undefined ? p.default : p.type === 'number' ? Number(raw) : p.type === 'boolean' ? raw === 'true' : raw;
        return { key: p.name, label: p.name, value, ...(p.min !== undefined ? { min: p.min } : {}), ...(p.max !== undefined ? { max: p.max } : {}), ...(p.step !== undefined ? { step: p.step } : {}), ...(p.integer ? { integer: true } : {}) };
      }),
      colors: keys.map((k, i) => ({ key: k, value: cfg.colors?.[i] ?? lineDefaults[i] ?? '#888888' })),
      hidden: cfg.hidden === true,
    };
  });
  const applySettings = (ch: SettingsChange) => {
    const target = settingsFor();
    if (!target) return;
    // Colours are kept only when one differs from the theme's (KLineChart spells them upper-case, colour inputs lower-case).
    const defaults = (chart()?.getStyles().indicator.lines ?? []).map((l) => l.color.toLowerCase());
    const changed = ch.colors.some((c, i) => c.toLowerCase() !== defaults[i]);
    const colors = ch.colors.length && changed ? ch.colors.map((c) => c.toLowerCase()) : undefined;
    if (target.kind === 'builtin') {
      const params = Object.keys(ch.params)
        .sort((a, b) => Number(a) - Number(b))
        .map((k) => Number(ch.params[k]));
      setIndicators((cur) => cur.map((c) => (c.name === target.name ? { name: c.name, params, ...(colors ? { colors } : {}), ...(ch.hidden ? { hidden: true } : {}) } : c)));
      return;
    }
    const def = seriesCatalog().find((d) => d.name === target.name);
    if (!def) return;
    const label = seriesLabel(def, ch.params);
    setSeries((cur) => cur.map((c) => (seriesName(c.name) === target.name ? { name: label, ...(colors ? { colors } : {}), ...(ch.hidden ? { hidden: true } : {}) } : c)));
  };

  const drawingsWanted = createMemo(() => drawOpen() || hasDrawings(symbol()));

  return (
    <div class="app">
      <header class="bar">
        <SymbolPicker current={symbol()} onPick={(s) => setSymbol(s)} ref={(el) => (search = el)} />
        <div class="quote">
          <span class="symbol" data-testid="symbol" title={pair().quote ? `${pair().base} / ${pair().quote}` : symbol()}>
            {symbol()}
          </span>
          <span class="price" data-testid="last-price">
            {last() ? priceText(last()!.close) : '—'}
          </span>
          <span class="change" classList={{ up: (change() ?? 0) >= 0, down: (change() ?? 0) < 0 }} data-testid="change" title={shortSpan() ? `change over the last ${shortSpan()}` : 'change over the last 24 h'}>
            {change() === undefined ? '' : `${change()! >= 0 ? '+' : ''}${change()!.toFixed(2)}%`}
            <Show when={change() !== undefined && shortSpan()}>
              <small class="span" data-testid="change-span">
                {' '}
                {shortSpan()}
              </small>
            </Show>
          </span>
        </div>
        <button class="menu-toggle" aria-label="Chart controls" aria-expanded={menuOpen()} aria-controls="controls" onClick={() => setMenuOpen(!menuOpen())}>
          ☰
        </button>
        <div class="controls" id="controls" classList={{ open: menuOpen() }}>
          <nav class="intervals" aria-label="interval">
            <For each={intervals()}>
              {(i) => (
                <button data-interval={i} aria-pressed={i === interval()} classList={{ active: i === interval() }} onClick={() => setInterval_(i)}>
                  {i}
                </button>
              )}
            </For>
          </nav>
          <Popover label="Indicators" testid="indicators-menu">
            <div class="ind-list" aria-label="indicators">
              <For each={Object.keys(INDICATORS)}>
                {(name) => (
                  <div class="ind-row">
                    <button data-indicator={name} aria-pressed={indicators().some((c) => c.name === name)} classList={{ active: indicators().some((c) => c.name === name) }} onClick={() => toggle(name)}>
                      {name}
                    </button>
                    <button class="gear" data-settings={name} aria-label={`${name} settings`} disabled={!indicators().some((c) => c.name === name)} onClick={() => setSettingsFor({ kind: 'builtin', name })}>
                      ⚙
                    </button>
                  </div>
                )}
              </For>
              <Show when={seriesCatalog().length}>
                <div class="ind-head">Engine series</div>
                <For each={seriesCatalog()}>
                  {(d) => {
                    const on = () => series().some((c) => seriesName(c.name) === d.name);
                    const toggle = () => seriesToggle(on(), seriesOffered(d, interval()), series().length);
                    return (
                      <div class="ind-row">
                        {/* Pinned to another interval: offered only to be turned off (the engine would refuse it here). */}
                        <button
                          data-series={d.name}
                          title={toggle().why ?? (seriesOffered(d, interval()) ? d.description : `${d.description} (computed on ${d.interval} bars only)`.trim())}
                          aria-pressed={on()}
                          classList={{ active: on() }}
                          disabled={toggle().disabled}
                          onClick={() => toggleSeries(d.name)}
                        >
                          {d.name}
                        </button>
                        <button class="gear" data-series-settings={d.name} aria-label={`${d.name} settings`} disabled={!on()} onClick={() => setSettingsFor({ kind: 'series', name: d.name })}>
                          ⚙
                        </button>
                      </div>
                    );
                  }}
                </For>
              </Show>
            </div>
          </Popover>
          <Popover label="Chart" testid="chart-menu" buttonContent={<>{TYPE_LABELS[chartType()]}</>}>
            <div role="radiogroup" aria-label="chart type" class="choice">
              <For each={[...CHART_TYPES]}>
                {(t) => (
                  <button role="radio" aria-checked={chartType() === t} data-chart-type={t} classList={{ active: chartType() === t }} onClick={() => setChartType(t)}>
                    {TYPE_LABELS[t]}
                  </button>
                )}
              </For>
            </div>
            <div role="radiogroup" aria-label="price scale" class="choice">
              <For each={[...SCALES]}>
                {(s) => (
                  <button role="radio" aria-checked={scale() === s} data-scale={s} classList={{ active: scale() === s }} onClick={() => setScale(s)}>
                    {SCALE_LABELS[s]}
                  </button>
                )}
              </For>
            </div>
          </Popover>
          <button class="draw-toggle" data-testid="draw-toggle" aria-pressed={drawOpen()} aria-label="Drawing tools" title="Drawing tools" onClick={() => setDrawOpen(!drawOpen())}>
            ✎ Draw
          </button>
        </div>
        <div class="status">
          <Show when={source() === 'sim'}>
            <span class="badge sim" data-testid="sim-badge" title="The engine runs on its built-in simulated exchange: prices are not real">
              simulated feed
            </span>
          </Show>
          <Show when={source() === 'replay'}>
            <span class="badge replay" data-testid="replay-badge" title="The engine plays a recording (SOURCE=replay): what the chart shows happened earlier, not now">
              replay
            </span>
          </Show>
          <span class={`badge state ${badge().cls}`} data-testid="status" role="status">
            {badge().text}
          </span>
          <button class="theme" aria-label="toggle theme" onClick={() => setTheme(theme() === 'dark' ? 'light' : 'dark')}>
            {theme() === 'dark' ? '☀' : '☾'}
          </button>
        </div>
      </header>
      <Show when={notice()}>
        <div class="error notice" role="status" data-testid="notice">
          {notice()}
          <button class="dismiss" aria-label="dismiss" onClick={() => setNotice(undefined)}>
            ×
          </button>
        </div>
      </Show>
      <Show when={error()}>
        <div class="error" role="alert" data-testid="error">
          {error()}
        </div>
      </Show>
      <main class="main">
        <Show when={chart() && drawingsWanted()}>
          <Suspense>
            <DrawingLayer chart={chart()!} symbol={symbol()} showToolbar={drawOpen()} />
          </Suspense>
        </Show>
        <KlineChart symbol={symbol()} interval={interval()} theme={theme()} indicators={indicators()} series={chartSeries()} type={chartType()} scale={scale()} onChart={setChart} />
        <Show when={settingsModel()}>
          <Suspense>
            <IndicatorSettings model={settingsModel()!} onChange={applySettings} onClose={() => setSettingsFor(null)} />
          </Suspense>
        </Show>
      </main>
    </div>
  );
}
