import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../../engine/src/broadcast/byte-lru.ts';

type Op = { op: 'set'; key: number; size: number } | { op: 'get'; key: number } | { op: 'delete'; key: number };

const ops = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('set' as const), key: fc.nat(7), size: fc.nat(40) }),
    fc.record({ op: fc.constant('get' as const), key: fc.nat(7) }),
    fc.record({ op: fc.constant('delete' as const), key: fc.nat(7) }),
  ),
  { maxLength: 60 },
);

describe('ByteLru', () => {
  it('behaves as a list ordered by use, trimmed from its least recently used end to its bounds', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 5 }), (list: Op[], maxBytes, maxEntries) => {
        const lru = new ByteLru<number, number>((v) => v, maxBytes, maxEntries);
        // The model: [key, size] pairs, least recently used first.
        let model: Array<[number, number]> = [];
        for (const o of list) {
          const at = model.findIndex(([k]) => k === o.key);
          if (o.op === 'get') {
            const got = lru.get(o.key);
            expect(got).toBe(at < 0 ? undefined : model[at]![1]);
            if (at >= 0) model = [...model.filter(([k]) => k !== o.key), model[at]!];
          } else if (o.op === 'delete') {
            lru.delete(o.key);
            model = model.filter(([k]) => k !== o.key);
          } else {
            lru.set(o.key, o.size);
            model = model.filter(([k]) => k !== o.key);
            if (o.size <= maxBytes && maxEntries >= 1) model.push([o.key, o.size]);
            const sum = () => model.reduce((s, [, n]) => s + n, 0);
            while (model.length > maxEntries || sum() > maxBytes) model.shift();
          }
          expect(lru.size).toBe(model.length);
          expect(lru.bytes).toBe(model.reduce((s, [, n]) => s + n, 0));
        }
        for (const [k, n] of model) expect(lru.get(k)).toBe(n);
      }),
    );
  });
});
