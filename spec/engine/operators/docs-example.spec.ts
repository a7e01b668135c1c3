import { describe, expect, it } from 'vitest';
import { emaCross } from '../../helpers/docs-ema-cross.ts';
import { barAt, runSync } from '../../helpers/marbles.ts';

describe('docs/operators.md example', () => {
  it('emaCross previews a forming flip and commits only the close', () => {
    const rising = [1, 2, 3, 4].map((c, i) => barAt(i, c));
    const out = runSync([...rising, barAt(4, 0, false), barAt(4, 5)], emaCross({ fast: 2, slow: 3 }));
    expect(out.map((p) => [p.value, p.closed])).toEqual([
      [1, true],
      [1, true],
      [-1, false],
      [1, true],
    ]);
    expect(() => emaCross({ fast: 5, slow: 5 })).toThrow(TypeError);
  });
});
