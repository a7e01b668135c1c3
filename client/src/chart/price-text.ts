import { pricePrecision } from './period.ts';

/**
 * A price as the header and the page's title show it: the chart's decimals (pricePrecision) and its
 * axis' thousands grouping (KLineChart's default `,`), so 60,123.45 reads the same in both places.
 */
export function priceText(price: number): string {
  const [int = '', frac] = price.toFixed(pricePrecision(price)).split('.');
  const grouped = int.replace(/(\d)(?=(\d{3})+$)/g, '$1,');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}
