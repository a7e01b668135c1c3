import { MAX_SERIES_PER_REQUEST } from '../series/series-registry.ts';

/**
 * Derived series a WebSocket connect may ask for per extra token of its address's connect ration.
 * Each one asked for is served with its points in the first message (966 KB with 15) and a lease
 * taken on open: 256 connects from one address, each with 15 series, held an engine's event loop up
 * to 54-102 ms (bench/probes/stall-probe.ts, 5 runs); taking 5 tokens each, 51 of them fit the burst
 * and held it 16-35 ms.
 */
export const SERIES_PER_CONNECT_TOKEN = 4;

/**
 * Tokens a WebSocket connect takes from its address's connect ration: 1, and 1 more for every
 * SERIES_PER_CONNECT_TOKEN derived series its `series=` asks for (16 series: 5). Counted from the raw
 * parameter, before it is parsed (a malformed one is refused after, and has paid); capped as the
 * parse caps a request, so no query makes a cost the ration's burst cannot hold.
 */
export function connectCost(seriesParam: string | undefined): number {
  if (!seriesParam) return 1;
  let asked = 0;
  // Every part, empty ones skipped as the parse skips them: counted in the first 17 parts only, 17 commas before 16 series cost 1.
  for (const part of seriesParam.split(',')) if (part && ++asked > MAX_SERIES_PER_REQUEST) break;
  return 1 + Math.ceil(Math.min(asked, MAX_SERIES_PER_REQUEST) / SERIES_PER_CONNECT_TOKEN);
}
