import { type Accessor, createMemo, from } from 'solid-js';
import type { StoreApi } from 'zustand/vanilla';
import { type MarketState, market } from './market.ts';

/**
 * A Solid accessor over a slice of the vanilla store; unsubscribes with its owner. It notifies only
 * when the slice changes (`equals`, default `===`): Solid's `from` signals every store update, and a
 * chart effect keyed on a slice (the generation that triggers a reload) must not run on each tick.
 */
export function useMarket<T>(select: (s: MarketState) => T, store: StoreApi<MarketState> = market, equals: (a: T, b: T) => boolean = (a, b) => a === b): Accessor<T> {
  const signal = from<T>((set) => {
    set(() => select(store.getState()));
    return store.subscribe((s) => set(() => select(s)));
  });
  return createMemo(() => signal() as T, undefined, { equals });
}
