import { describe, expect, it } from 'vitest';
import { loadDrawings, MAX_DRAWINGS, parseDrawings, saveDrawings, storageKey } from '../../../client/src/drawing/drawing-storage.ts';

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

const line = { id: 'a', name: 'segment' as const, points: [{ timestamp: 1_700_000_000_000, value: 54_000.5 }, { timestamp: 1_700_000_600_000, value: 54_200 }] };

describe('drawings in local storage', () => {
  it('round-trips per symbol, anchored to time and price', () => {
    const st = new MemoryStorage();
    saveDrawings('BTCUSDT', { hidden: false, locked: true, items: [line, { id: 'n', name: 'textNote', points: [{ timestamp: 1, value: 2 }], text: 'breakout' }] }, st);
    expect(loadDrawings('BTCUSDT', st)).toEqual({ hidden: false, locked: true, items: [line, { id: 'n', name: 'textNote', points: [{ timestamp: 1, value: 2 }], text: 'breakout' }] });
    expect(loadDrawings('ETHUSDT', st).items).toEqual([]);
    saveDrawings('BTCUSDT', { hidden: false, locked: false, items: [] }, st);
    expect(st.map.has(storageKey('BTCUSDT'))).toBe(false);
  });

  it('keeps what it can of edited or broken storage', () => {
    expect(parseDrawings('{').items).toEqual([]);
    const text = JSON.stringify({ items: [line, { id: 'x', name: 'unknownTool', points: [{ timestamp: 1, value: 1 }] }, { id: 'y', name: 'segment', points: [{ timestamp: 'a', value: 1 }] }, 7] });
    expect(parseDrawings(text).items).toEqual([line]);
    expect(parseDrawings(JSON.stringify({ items: Array.from({ length: MAX_DRAWINGS + 50 }, (_, i) => ({ ...line, id: String(i) })) })).items).toHaveLength(MAX_DRAWINGS);
  });

  it('a full storage leaves the drawings on screen rather than failing', () => {
    const full = { setItem: () => { throw new Error('QuotaExceededError'); }, removeItem: () => undefined };
    expect(() => saveDrawings('BTCUSDT', { hidden: false, locked: false, items: [line] }, full)).not.toThrow();
  });
});
