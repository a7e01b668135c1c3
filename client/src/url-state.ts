/** The view lives in the URL (`/?symbol=ETHUSDT&interval=5m`): shareable, and it survives a reload. */
export function readUrlState(): { symbol: string; interval: string; indicators: string[]; theme: 'dark' | 'light'; series: string[] } {
  const q = new URLSearchParams(location.search);
  return {
    symbol: (q.get('symbol') ?? 'BTCUSDT').toUpperCase().slice(0, 20),
    interval: (q.get('interval') ?? '1m').slice(0, 6),
    indicators: (q.get('ind') ?? '').split(',').filter(Boolean),
    theme: q.get('theme') === 'light' ? 'light' : 'dark',
    series: (q.get('series') ?? '').split(',').filter(Boolean).slice(0, 8),
  };
}

export function writeUrlState(s: { symbol: string; interval: string; indicators: string[]; theme: string; series: string[] }): void {
  const q = new URLSearchParams();
  q.set('symbol', s.symbol);
  q.set('interval', s.interval);
  if (s.indicators.length) q.set('ind', s.indicators.join(','));
  if (s.series.length) q.set('series', s.series.join(','));
  if (s.theme !== 'dark') q.set('theme', s.theme);
  const next = `${location.pathname}?${q.toString()}`;
  if (next !== `${location.pathname}${location.search}`) history.replaceState(null, '', next);
}
