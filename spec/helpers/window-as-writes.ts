import type { WindowResult, WriteResult } from '../../engine/src/cluster/fenced-writer.ts';
import type { Bar } from '../../engine/src/domain/bar.ts';
import type { SeriesId } from '../../engine/src/domain/series-id.ts';

/** A fake writer's `writeWindow`: the window's bars as its `write`s, in order (a log Redis already has). */
export function windowAsWrites(write: (token: string, id: SeriesId, bar: Bar) => Promise<WriteResult>) {
  return async (token: string, id: SeriesId, bars: readonly Bar[]): Promise<WindowResult> => {
    const rs = await Promise.all(bars.map((b) => write(token, id, b)));
    if (rs.some((r) => r.kind === 'fenced')) return { kind: 'fenced' };
    const written = rs.filter((r) => r.kind === 'written').length;
    return { kind: 'updates', written, dropped: rs.length - written };
  };
}
