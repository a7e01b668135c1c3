/**
 * The view lives in the URL, so a shared link reproduces it and it survives a reload:
 * `/?symbol=ETHUSDT&interval=5m&ind=MA(5;10;30)~f0b90b,RSI(21),!BOLL&series=rsi:period=21~2962ff&type=area&scale=log`.
 * An indicator token is `[!]NAME[(p1;p2…)][~colour1;colour2…]`: `!` hidden, parameters, colours as hex.
 */

export interface IndicatorConfig {
  /** KLineChart indicator name (`RSI`) or derived-series label (`rsi:period=21`). */
  name: string;
  params?: number[];
  /** Line colours, `#rrggbb`, in figure order. */
  colors?: string[];
  hidden?: boolean;
}

export const CHART_TYPES = ['candles', 'hollow', 'bars', 'line', 'area'] as const;
export type ChartType = (typeof CHART_TYPES)[number];
export const SCALES = ['linear', 'log', 'percent'] as const;
export type Scale = (typeof SCALES)[number];

export interface UrlState {
  symbol: string;
  interval: string;
  indicators: IndicatorConfig[];
  theme: 'dark' | 'light';
  series: IndicatorConfig[];
  type: ChartType;
  scale: Scale;
}

const MAX_TOKENS = 8;
/** Derived series one socket may ask for: the engine refuses a request over it whole (its MAX_SERIES_PER_REQUEST). */
export const MAX_VIEW_SERIES = 16;
const COLOR = /^[0-9a-f]{6}$/i;

/** One token of `ind=` or `series=`; undefined when malformed (ignored: a hand-edited link loses only that entry). */
export function parseToken(token: string, withParams: boolean): IndicatorConfig | undefined {
  let t = token.trim();
  const hidden = t.startsWith('!');
  if (hidden) t = t.slice(1);
  let colors: string[] | undefined;
  const tilde = t.indexOf('~');
  if (tilde >= 0) {
    colors = t
      .slice(tilde + 1)
      .split(';')
      .filter((c) => COLOR.test(c))
      .map((c) => `#${c.toLowerCase()}`)
      .slice(0, 8);
    t = t.slice(0, tilde);
  }
  let params: number[] | undefined;
  const m = withParams ? /^([A-Za-z0-9_-]{1,40})\(([-0-9.;]{0,80})\)$/.exec(t) : null;
  if (m) {
    t = m[1]!;
    params = m[2]!.split(';').filter(Boolean).map(Number);
    if (params.some((p) => !Number.isFinite(p))) return undefined;
  }
  if (!t || t.length > 120 || /[,~!()]/.test(t)) return undefined;
  const out: IndicatorConfig = { name: t };
  if (params?.length) out.params = params.slice(0, 8);
  if (colors?.length) out.colors = colors;
  if (hidden) out.hidden = true;
  return out;
}

export function formatToken(c: IndicatorConfig, withParams: boolean): string {
  let s = `${c.hidden ? '!' : ''}${c.name}`;
  if (withParams && c.params?.length) s += `(${c.params.join(';')})`;
  if (c.colors?.length) s += `~${c.colors.map((x) => x.replace('#', '')).join(';')}`;
  return s;
}

const tokens = (raw: string | null, withParams: boolean, max = MAX_TOKENS) =>
  (raw ?? '')
    .split(',')
    .filter(Boolean)
    .slice(0, max)
    .flatMap((t) => {
      const c = parseToken(t, withParams);
      return c ? [c] : [];
    });

export function parseUrlState(search: string): UrlState {
  const q = new URLSearchParams(search);
  const type = q.get('type') as ChartType | null;
  const scale = q.get('scale') as Scale | null;
  return {
    symbol: (q.get('symbol') ?? 'BTCUSDT').toUpperCase().slice(0, 20),
    interval: (q.get('interval') ?? '1m').slice(0, 6),
    indicators: tokens(q.get('ind'), true),
    theme: q.get('theme') === 'light' ? 'light' : 'dark',
    // Each derived series once: the engine refuses a request naming one twice.
    // As many as a socket may ask for: a view of 12 came back from its own link with 8.
    series: tokens(q.get('series'), false, MAX_VIEW_SERIES).filter((c, i, all) => all.findIndex((x) => x.name === c.name) === i),
    type: type && CHART_TYPES.includes(type) ? type : 'candles',
    scale: scale && SCALES.includes(scale) ? scale : 'linear',
  };
}

export function formatUrlState(s: UrlState): string {
  const q = new URLSearchParams();
  q.set('symbol', s.symbol);
  q.set('interval', s.interval);
  if (s.indicators.length) q.set('ind', s.indicators.map((c) => formatToken(c, true)).join(','));
  if (s.series.length) q.set('series', s.series.map((c) => formatToken(c, false)).join(','));
  if (s.type !== 'candles') q.set('type', s.type);
  if (s.scale !== 'linear') q.set('scale', s.scale);
  if (s.theme !== 'dark') q.set('theme', s.theme);
  // Readable links: these characters are safe in a query value.
  return q.toString().replace(/%2C/g, ',').replace(/%3A/g, ':').replace(/%3B/g, ';').replace(/%3D/g, '=').replace(/%28/g, '(').replace(/%29/g, ')').replace(/%7E/g, '~').replace(/%21/g, '!');
}

export const readUrlState = (): UrlState => parseUrlState(location.search);

export function writeUrlState(s: UrlState): void {
  const next = `${location.pathname}?${formatUrlState(s)}`;
  if (next !== `${location.pathname}${location.search}`) history.replaceState(null, '', next);
}
