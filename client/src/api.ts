import type { Candle } from './store/candle.ts';
import { toCandle } from './feed/messages.ts';

/** The engine's HTTP API, same origin. */
export async function fetchCatalog(): Promise<{ symbols: string[]; intervals: string[]; source: string }> {
  const res = await fetch('/symbols');
  if (!res.ok) throw new Error(`/symbols answered ${res.status}`);
  return (await res.json()) as { symbols: string[]; intervals: string[]; source: string };
}

export async function fetchOlder(symbol: string, interval: string, endTime: number, limit: number): Promise<Candle[]> {
  const res = await fetch(`/candles/${encodeURIComponent(symbol)}/${encodeURIComponent(interval)}?endTime=${endTime}&limit=${limit}`);
  if (!res.ok) throw new Error(`/candles answered ${res.status}`);
  const body = (await res.json()) as { candles?: unknown[] };
  return (body.candles ?? []).map(toCandle).filter((c): c is Candle => c !== undefined);
}

export async function fetchSeriesCatalog(): Promise<Array<{ name: string; description: string; pane: 'overlay' | 'oscillator'; plot: string[] | null }>> {
  const res = await fetch('/series');
  if (!res.ok) throw new Error(`/series answered ${res.status}`);
  const body = (await res.json()) as { series?: Array<{ name: string; description: string; pane: 'overlay' | 'oscillator'; plot: string[] | null }> };
  return body.series ?? [];
}
