import { describe, expect, it } from 'vitest';
import { chartFocus, type Focusable } from '../../../client/src/chart/chart-focus.ts';

const el = (tabIndex: number) => {
  const attrs: Record<string, string> = {};
  const e: Focusable & { attrs: typeof attrs } = { tabIndex, attrs, setAttribute: (k, v) => void (attrs[k] = v) };
  return e;
};

describe('chartFocus: KLineChart’s container in the tab order', () => {
  it('takes it out of first place (tabindex 1 → 0), gives it a role and a focus ring, and returns it to be named', () => {
    const container = el(1);
    expect(chartFocus({ querySelectorAll: () => [container] })).toBe(container);
    expect(container.tabIndex).toBe(0);
    expect(container.attrs).toEqual({ role: 'region', 'data-chart-focus': '' });
  });

  it('leaves elements already in page order (0) or out of it (-1) alone', () => {
    const [a, b] = [el(0), el(-1)];
    expect(chartFocus({ querySelectorAll: () => [a, b] })).toBeUndefined();
    expect([a.tabIndex, b.tabIndex, a.attrs, b.attrs]).toEqual([0, -1, {}, {}]);
  });
});
