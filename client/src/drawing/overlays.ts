import { type OverlayTemplate, registerOverlay } from 'klinecharts';

const ms = (d: number) => {
  const m = Math.round(Math.abs(d) / 60_000);
  if (m < 60) return `${m}m`;
  if (m < 1440) return `${Math.floor(m / 60)}h ${m % 60}m`;
  return `${Math.floor(m / 1440)}d ${Math.floor((m % 1440) / 60)}h`;
};

/** Price and range measure: the box between two points, labelled with the change, %, bars and time. */
const priceRange: OverlayTemplate = {
  name: 'priceRange',
  totalStep: 3,
  needDefaultPointFigure: true,
  needDefaultXAxisFigure: true,
  needDefaultYAxisFigure: true,
  createPointFigures: ({ chart, overlay, coordinates }) => {
    if (coordinates.length < 2) return [];
    const [a, b] = [coordinates[0]!, coordinates[1]!];
    const [p, q] = [overlay.points[0]!, overlay.points[1]!];
    if (p.value === undefined || q.value === undefined) return [];
    const diff = q.value - p.value;
    const pct = p.value !== 0 ? (diff / p.value) * 100 : 0;
    const bars = p.dataIndex !== undefined && q.dataIndex !== undefined ? Math.abs(q.dataIndex - p.dataIndex) : 0;
    const time = p.timestamp !== undefined && q.timestamp !== undefined ? ms(q.timestamp - p.timestamp) : '';
    const precision = chart.getSymbol()?.pricePrecision ?? 2;
    const up = diff >= 0;
    const color = up ? 'rgba(38, 166, 154, 0.18)' : 'rgba(239, 83, 80, 0.18)';
    const text = `${up ? '+' : ''}${diff.toFixed(precision)} (${up ? '+' : ''}${pct.toFixed(2)}%) · ${bars} bars · ${time}`;
    return [
      {
        type: 'polygon',
        attrs: { coordinates: [a, { x: b.x, y: a.y }, b, { x: a.x, y: b.y }] },
        styles: { style: 'fill', color },
      },
      {
        type: 'text',
        ignoreEvent: true,
        attrs: { x: (a.x + b.x) / 2, y: up ? Math.min(a.y, b.y) - 4 : Math.max(a.y, b.y) + 4, text, align: 'center', baseline: up ? 'bottom' : 'top' },
        styles: { color: '#ffffff', backgroundColor: up ? '#26a69a' : '#ef5350', paddingLeft: 6, paddingRight: 6, paddingTop: 3, paddingBottom: 3, borderRadius: 3 },
      },
    ];
  },
};

/** A text note pinned to a time and price (the text is the overlay's `extendData`). */
const textNote: OverlayTemplate = {
  name: 'textNote',
  totalStep: 2,
  needDefaultPointFigure: true,
  needDefaultXAxisFigure: false,
  needDefaultYAxisFigure: true,
  createPointFigures: ({ overlay, coordinates }) => {
    const c = coordinates[0];
    if (!c) return [];
    const text = typeof overlay.extendData === 'string' && overlay.extendData ? overlay.extendData : 'note';
    return [
      {
        type: 'text',
        attrs: { x: c.x + 6, y: c.y, text, align: 'left', baseline: 'middle' },
        styles: { color: '#131722', backgroundColor: '#f0b90b', paddingLeft: 6, paddingRight: 6, paddingTop: 4, paddingBottom: 4, borderRadius: 3, size: 12 },
      },
    ];
  },
};

let registered = false;

/** Registers the drawing overlays KLineChart lacks (the others are built in). */
export function registerDrawingOverlays(): void {
  if (registered) return;
  registered = true;
  registerOverlay(priceRange);
  registerOverlay(textNote);
}
