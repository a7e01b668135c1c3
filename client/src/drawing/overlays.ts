import { type OverlayTemplate, registerOverlay } from 'klinecharts';
import { rangeLabel } from './range-label.ts';

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
    const text = rangeLabel(p, q, chart.getSymbol()?.pricePrecision ?? 2, chart.getPeriod());
    if (text === undefined) return [];
    const up = q.value! >= p.value!;
    const color = up ? 'rgba(38, 166, 154, 0.18)' : 'rgba(239, 83, 80, 0.18)';
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
