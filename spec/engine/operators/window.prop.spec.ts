import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Kernel, smaKernel, windowKernel } from '../../../engine/src/operators/index.ts';

/**
 * Window kernels share one append-only log between states. These properties step *any* earlier state
 * again (as a rewind or a step-based preview does) and check that no state is ever disturbed by it.
 */
interface Node<S> {
  state: S;
  path: number[];
}

function explore<S>(kernel: Kernel<S, number, number>, ops: Array<{ from: number; x: number }>) {
  const nodes: Node<S>[] = [{ state: kernel.initial, path: [] }];
  const out: Array<{ path: number[]; value: number | undefined; preview: number | undefined }> = [];
  for (const { from, x } of ops) {
    const parent = nodes[from % nodes.length]!;
    const preview = kernel.preview?.(parent.state, x);
    const [state, value] = kernel.step(parent.state, x);
    const node = { state, path: [...parent.path, x] };
    nodes.push(node);
    out.push({ path: node.path, value, preview });
  }
  return out;
}

/** The value of `kernel` after stepping straight through `path` from its initial state. */
function straight<S>(kernel: Kernel<S, number, number>, path: number[]): number | undefined {
  let s = kernel.initial;
  let v: number | undefined;
  for (const x of path) [s, v] = kernel.step(s, x);
  return v;
}

const ops = fc.array(fc.record({ from: fc.nat(), x: fc.double({ min: -1e6, max: 1e6, noNaN: true }) }), { minLength: 1, maxLength: 300 });
const period = fc.integer({ min: 1, max: 12 });

const naiveMean = (path: number[], p: number) => (path.length < p ? undefined : path.slice(-p).reduce((a, b) => a + b, 0) / p);

describe('window kernels over a shared log', () => {
  it('windowKernel: every state, stepped in any order, sees exactly its own last `period` numbers', () => {
    fc.assert(
      fc.property(period, ops, (p, steps) => {
        const kernel = windowKernel(p, (w) => w.join(','));
        const last = (path: number[]) => (path.length < p ? undefined : path.slice(-p).join(','));
        const stringKernel = kernel as unknown as Kernel<unknown, number, number>;
        for (const r of explore(stringKernel, steps)) {
          expect(r.value).toBe(last(r.path));
          expect(r.preview).toBe(last(r.path));
        }
      }),
    );
  });

  it('smaKernel: the mean of the window, bit-identical to stepping the same numbers straight, previews equal to steps', () => {
    fc.assert(
      fc.property(period, ops, (p, steps) => {
        const kernel = smaKernel(p);
        for (const r of explore(kernel, steps)) {
          const want = naiveMean(r.path, p);
          // Rounding is relative to the numbers summed since the last exact recompute (at most 2·period
          // back), not to a mean they may cancel down to.
          const tol = 1e-12 * Math.max(1, ...r.path.slice(-2 * p).map(Math.abs));
          if (want === undefined) expect(r.value).toBeUndefined();
          else expect(Math.abs(r.value! - want)).toBeLessThanOrEqual(tol);
          // However the state was reached (forks included), the value is the same bits.
          expect(r.value).toBe(straight(kernel, r.path));
          // A preview is exactly the value the number would get if it were committed.
          expect(r.preview).toBe(r.value);
        }
      }),
    );
  });
});
