import { describe, expect, it } from 'vitest';
import { menuAfterPanel } from '../../client/src/menu-after-panel.ts';

describe('menuAfterPanel: the ☰ menu and the panels it opens', () => {
  it('closes the menu when a panel opens from it', () => {
    expect(menuAfterPanel(true, true, false)).toBe(false);
  });

  it('leaves it as it was when a panel closes or stays as it was', () => {
    expect(menuAfterPanel(true, false, true)).toBe(true);
    expect(menuAfterPanel(false, false, true)).toBe(false);
    expect(menuAfterPanel(true, true, true)).toBe(true);
    expect(menuAfterPanel(true, false, false)).toBe(true);
  });
});
