import { describe, expect, it } from 'vitest';
import { priceText } from '../../../client/src/chart/price-text.ts';

describe('priceText: the header’s price, as the chart’s axis writes it', () => {
  it('groups thousands as the axis does (KLineChart’s `,`)', () => {
    expect(priceText(60_123.45)).toBe('60,123.45');
    expect(priceText(1_234_567.8)).toBe('1,234,567.80');
    expect(priceText(3012.3456)).toBe('3,012.35');
    expect(priceText(150.12)).toBe('150.12');
  });

  it('keeps small prices plain, at their decimals', () => {
    expect(priceText(1.2345)).toBe('1.2345');
    expect(priceText(0.48646)).toBe('0.48646');
    expect(priceText(0.00013081)).toBe('0.00013081');
  });
});
