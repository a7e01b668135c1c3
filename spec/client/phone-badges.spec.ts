import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const css = readFileSync(new URL('../../client/src/styles.css', import.meta.url), 'utf8');

/** The rules inside `@media (max-width: 640px) { … }` (one level of nesting). */
function phoneRules(text: string): Array<{ selectors: string[]; body: string }> {
  const start = text.indexOf('@media (max-width: 640px)');
  expect(start).toBeGreaterThanOrEqual(0);
  let depth = 0;
  let i = text.indexOf('{', start);
  const open = i;
  for (; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) break;
  }
  const inner = text.slice(open + 1, i).replace(/\/\*[\s\S]*?\*\//g, '');
  return [...inner.matchAll(/([^{}]+)\{([^}]*)\}/g)].map((m) => ({ selectors: m[1]!.split(',').map((s) => s.trim()), body: m[2]! }));
}

describe('the sim and replay badges at phone width', () => {
  const rules = phoneRules(css);
  it('are not hidden', () => {
    for (const badge of ['.badge.sim', '.badge.replay']) {
      const hiding = rules.filter((r) => r.selectors.includes(badge) && /display:\s*none/.test(r.body));
      expect(hiding, badge).toEqual([]);
    }
  });

  it('draw a short "sim" in place of "simulated feed" (the header stays one line)', () => {
    expect(rules.some((r) => r.selectors.includes('.badge.sim::after') && /content:\s*'sim'/.test(r.body))).toBe(true);
  });
});
