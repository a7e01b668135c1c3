import { createMemo, createSignal, For, Show } from 'solid-js';
import { useMarket } from '../store/bridge.ts';
import { pickerEntries, searchMarkets } from './search-markets.ts';

/** Row height (px) of the list: fixed, so only the rows in view are rendered (2,000+ symbols stay smooth). */
export const ROW_PX = 28;
const ROWS_SHOWN = 12;
const OVERSCAN = 6;

/**
 * The symbol search: every trading symbol, searchable by name, base and quote, shown as base/quote;
 * a list that renders only the rows in view, driven by keyboard (arrows, Enter, Esc) or mouse.
 */
export function SymbolPicker(props: { current: string; onPick: (symbol: string) => void; ref?: (el: HTMLInputElement) => void }) {
  const symbols = useMarket((s) => s.symbols);
  const markets = useMarket((s) => s.markets);
  const configured = useMarket((s) => s.configured);
  const entries = createMemo(() => pickerEntries(symbols(), markets(), configured()));
  const [query, setQuery] = createSignal('');
  const [open, setOpen] = createSignal(false);
  const [active, setActive] = createSignal(0);
  const [scrollTop, setScrollTop] = createSignal(0);
  const filtered = createMemo(() => searchMarkets(entries(), query()));
  let list: HTMLDivElement | undefined;

  const windowRows = createMemo(() => {
    const all = filtered();
    const start = Math.max(0, Math.floor(scrollTop() / ROW_PX) - OVERSCAN);
    const end = Math.min(all.length, start + ROWS_SHOWN + 2 * OVERSCAN);
    return all.slice(start, end).map((e, i) => ({ e, index: start + i }));
  });
  const pick = (symbol: string) => {
    props.onPick(symbol);
    setQuery('');
    setOpen(false);
  };
  const move = (delta: number) => {
    const n = filtered().length;
    if (!n) return;
    const next = Math.min(n - 1, Math.max(0, active() + delta));
    setActive(next);
    if (list) {
      const top = next * ROW_PX;
      if (top < list.scrollTop) list.scrollTop = top;
      else if (top + ROW_PX > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_PX - list.clientHeight;
      setScrollTop(list.scrollTop);
    }
  };

  return (
    <div class="picker">
      <input
        ref={props.ref}
        type="search"
        role="combobox"
        aria-label="Search symbol (press /)"
        aria-expanded={open()}
        aria-controls="symbol-options"
        aria-autocomplete="list"
        aria-activedescendant={open() && filtered().length ? `symbol-option-${active()}` : undefined}
        data-testid="symbol-search"
        placeholder={props.current}
        autocomplete="off"
        spellcheck={false}
        value={query()}
        onFocus={() => setOpen(true)}
        onInput={(e) => {
          setQuery(e.currentTarget.value);
          setActive(0);
          setScrollTop(0);
          if (list) list.scrollTop = 0;
          setOpen(true);
        }}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setOpen(true);
            move(1);
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            move(-1);
          } else if (e.key === 'PageDown') {
            e.preventDefault();
            move(ROWS_SHOWN);
          } else if (e.key === 'PageUp') {
            e.preventDefault();
            move(-ROWS_SHOWN);
          } else if (e.key === 'Enter') {
            const hit = filtered()[active()];
            if (hit) pick(hit.symbol);
          } else if (e.key === 'Escape') {
            setOpen(false);
            e.currentTarget.blur();
          }
        }}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      <Show when={open()}>
        <div
          ref={list}
          id="symbol-options"
          class="options"
          role="listbox"
          aria-label="symbols"
          // Not a tab stop of its own (a scrolling box is one in Chrome): Tab from the search landed here,
          // the list closed on the search's blur and focus was lost (a review). Options are reached by the arrows.
          tabIndex={-1}
          data-testid="symbol-options"
          style={{ height: `${Math.min(Math.max(filtered().length, 1), ROWS_SHOWN) * ROW_PX}px` }}
          onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        >
          <Show when={filtered().length} fallback={<div class="empty">No symbol matches “{query()}”</div>}>
            <div style={{ height: `${filtered().length * ROW_PX}px`, position: 'relative' }}>
              <For each={windowRows()}>
                {(row) => (
                  <div
                    id={`symbol-option-${row.index}`}
                    role="option"
                    aria-selected={row.index === active()}
                    data-symbol={row.e.symbol}
                    classList={{ current: row.e.symbol === props.current, active: row.index === active() }}
                    style={{ top: `${row.index * ROW_PX}px`, height: `${ROW_PX}px` }}
                    onMouseDown={(ev) => {
                      ev.preventDefault();
                      pick(row.e.symbol);
                    }}
                  >
                    <span class="sym">{row.e.symbol}</span>
                    <span class="pair">
                      {row.e.base}
                      <Show when={row.e.quote}>/{row.e.quote}</Show>
                    </span>
                    <Show when={!row.e.configured}>
                      <span class="demand" title="Started on demand when opened">on demand</span>
                    </Show>
                  </div>
                )}
              </For>
            </div>
          </Show>
        </div>
      </Show>
      <span class="count" aria-live="polite">
        <Show when={open() && query()}>{filtered().length} found</Show>
      </span>
    </div>
  );
}
