/**
 * Drawings are kept per symbol in the browser's local storage, anchored to time and price (not to
 * bar indexes), so they land on the same spot after a reload and on any interval.
 */

export const DRAWING_TOOLS = ['segment', 'rayLine', 'horizontalStraightLine', 'verticalStraightLine', 'parallelStraightLine', 'fibonacciLine', 'priceRange', 'textNote'] as const;
export type DrawingTool = (typeof DRAWING_TOOLS)[number];

export interface SavedDrawing {
  id: string;
  name: DrawingTool;
  points: Array<{ timestamp: number; value: number }>;
  /** The note of a text drawing. */
  text?: string;
  locked?: boolean;
}

export interface SavedDrawings {
  hidden: boolean;
  locked: boolean;
  items: SavedDrawing[];
}

/** Drawings kept per symbol at most (a full storage quota must not break the chart). */
export const MAX_DRAWINGS = 200;

export const storageKey = (symbol: string) => `kline-engine:drawings:${symbol}`;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What local storage held, checked item by item (it is user-editable input): bad items are dropped. */
export function parseDrawings(text: string | null): SavedDrawings {
  const empty: SavedDrawings = { hidden: false, locked: false, items: [] };
  if (!text) return empty;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return empty;
  }
  if (!isObj(v) || !Array.isArray(v.items)) return empty;
  const items = v.items.slice(0, MAX_DRAWINGS).flatMap((it): SavedDrawing[] => {
    if (!isObj(it) || typeof it.id !== 'string' || !DRAWING_TOOLS.includes(it.name as DrawingTool) || !Array.isArray(it.points)) return [];
    const points = it.points.flatMap((p) => (isObj(p) && Number.isFinite(p.timestamp) && Number.isFinite(p.value) ? [{ timestamp: p.timestamp as number, value: p.value as number }] : []));
    if (!points.length || points.length !== it.points.length) return [];
    const d: SavedDrawing = { id: it.id.slice(0, 64), name: it.name as DrawingTool, points };
    if (typeof it.text === 'string') d.text = it.text.slice(0, 500);
    if (it.locked === true) d.locked = true;
    return [d];
  });
  return { hidden: v.hidden === true, locked: v.locked === true, items };
}

export function loadDrawings(symbol: string, storage: Pick<Storage, 'getItem'> = localStorage): SavedDrawings {
  try {
    return parseDrawings(storage.getItem(storageKey(symbol)));
  } catch {
    return parseDrawings(null);
  }
}

export function saveDrawings(symbol: string, drawings: SavedDrawings, storage: Pick<Storage, 'setItem' | 'removeItem'> = localStorage): void {
  try {
    if (!drawings.items.length && !drawings.hidden && !drawings.locked) storage.removeItem(storageKey(symbol));
    else storage.setItem(storageKey(symbol), JSON.stringify({ ...drawings, items: drawings.items.slice(-MAX_DRAWINGS) }));
  } catch {
    // Storage full or disabled: the drawings stay on screen for this session.
  }
}
