import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBar, encodeBar } from '../../../engine/src/store/bar-member.ts';

describe('a bar as a Redis member', () => {
  const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
  it('decodes what it encodes, the longest numbers included', () => {
    fc.assert(
      fc.property(fc.tuple(finite, finite, finite, finite, finite, finite, fc.boolean()), ([openTime, open, high, low, close, volume, closed]) => {
        const bar = { openTime, open, high, low, close, volume, closed };
        expect(decodeBar(encodeBar(bar))).toEqual(JSON.parse(JSON.stringify(bar)));
      }),
    );
    const longest = { openTime: -Number.MAX_VALUE, open: -Number.MIN_VALUE, high: -Number.MAX_VALUE, low: -Number.MAX_VALUE, close: -Number.MAX_VALUE, volume: -Number.MAX_VALUE, closed: true };
    expect(decodeBar(encodeBar(longest))).toEqual(longest);
  });

  it('refuses what is not a bar the engine wrote: a member padded past 512 characters (reproduced: a 1 MB one reached clients), the wrong shape, not numbers', () => {
    expect(decodeBar(`[1,2,3,4,5,6,0${' '.repeat(600)}]`)).toBeUndefined();
    expect(decodeBar(`[1,2,3,4,5,6,0${' '.repeat(400)}]`)).toMatchObject({ openTime: 1, closed: false });
    for (const m of ['[1,2,3,4,5,6]', '{"a":1}', '[1,2,3,4,5,6,"x"]', 'not json', '[1,2,3,4,5,6,1e400]']) expect(decodeBar(m)).toBeUndefined();
  });
});
