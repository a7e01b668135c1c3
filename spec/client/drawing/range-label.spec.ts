import { describe, expect, it } from 'vitest';
import { rangeLabel } from '../../../client/src/drawing/range-label.ts';

const MIN = 60_000;
const t0 = Date.UTC(2026, 0, 5, 10, 0);

describe('rangeLabel: the measure’s text', () => {
  // As a drawing comes back from local storage: no dataIndex.
  const p = { value: 100, timestamp: t0 };
  const q = { value: 110, timestamp: t0 + 75 * MIN };
  it('counts bars after a reload and on the interval now shown', () => {
    expect(rangeLabel(p, q, 2, { type: 'minute', span: 5 })).toBe('+10.00 (+10.00%) · 15 bars · 1h 15m');
    expect(rangeLabel(p, q, 2, { type: 'hour', span: 1 })).toBe('+10.00 (+10.00%) · 1 bar · 1h 15m');
  });

  it('has no label without both prices', () => {
    expect(rangeLabel({ timestamp: t0 }, q, 2, { type: 'minute', span: 5 })).toBeUndefined();
  });
});
