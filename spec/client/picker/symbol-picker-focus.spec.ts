import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The picker is a component (no DOM in these specs): its listbox's markup is read as written.
const source = readFileSync(new URL('../../../client/src/picker/SymbolPicker.tsx', import.meta.url), 'utf8');

describe('SymbolPicker keyboard focus', () => {
  it('keeps the scrolling listbox out of the tab order (Tab from the search moves on, not into a list about to close)', () => {
    const open = source.indexOf('role="listbox"');
    expect(open).toBeGreaterThan(0);
    const tag = source.slice(source.lastIndexOf('<div', open), source.indexOf('>', open));
    expect(tag).toMatch(/tabIndex=\{-1\}/);
  });
});
