import { from, type Accessor } from 'solid-js';
import type { StoreApi } from 'zustand/vanilla';
import { type MarketState, market } from './market.ts';

/** A Solid accessor over a slice of the vanilla store; unsubscribes with its owner. */
export function useMarket<T>(select: (s: MarketState) => T, store: StoreApi<MarketState> = market): Accessor<T> {
  const signal = from<T>((set) => {
    set(() => select(store.getState()));
    return store.subscribe((s) => set(() => select(s)));
  });
  return () => signal() as T;
}
