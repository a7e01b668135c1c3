import { type Chart, type Overlay, type OverlayCreate, registerHotkey } from 'klinecharts';
import { createEffect, createSignal, For, on, onCleanup, Show } from 'solid-js';
import { DRAWING_TOOLS, type DrawingTool, loadDrawings, type SavedDrawing, type SavedDrawings, saveDrawings } from './drawing-storage.ts';
import { registerDrawingOverlays } from './overlays.ts';

const GROUP = 'drawings';

const TOOL_LABELS: Record<DrawingTool, { label: string; icon: string }> = {
  segment: { label: 'Trend line', icon: '╱' },
  rayLine: { label: 'Ray', icon: '↗' },
  horizontalStraightLine: { label: 'Horizontal line', icon: '─' },
  verticalStraightLine: { label: 'Vertical line', icon: '│' },
  parallelStraightLine: { label: 'Parallel channel', icon: '∥' },
  fibonacciLine: { label: 'Fibonacci retracement', icon: 'ℱ' },
  priceRange: { label: 'Price and range measure', icon: '⇕' },
  textNote: { label: 'Text note', icon: 'T' },
};

// The Delete key removes the selected drawing of the chart that has one (KLineChart hot keys are global).
let removeSelected: (() => boolean) | undefined;
let deleteKeyRegistered = false;
function registerDeleteKey() {
  if (deleteKeyRegistered) return;
  deleteKeyRegistered = true;
  registerHotkey({ name: 'deleteDrawing', keys: ['Delete', 'Backspace'], check: () => removeSelected !== undefined, action: () => removeSelected?.() });
}

/**
 * Drawing tools over the chart (KLineChart overlays), kept per symbol in local storage: trend line,
 * ray, horizontal and vertical lines, parallel channel, Fibonacci retracement, price/range measure
 * and text notes; select and drag to move, Delete removes the selected one, lock, hide, clear all.
 * Loaded only when the toolbar is opened or the symbol has saved drawings.
 */
export default function DrawingLayer(props: { chart: Chart; symbol: string; showToolbar: boolean }) {
  registerDrawingOverlays();
  registerDeleteKey();
  const chart = props.chart;
  const [saved, setSaved] = createSignal<SavedDrawings>({ hidden: false, locked: false, items: [] });
  const [active, setActive] = createSignal<DrawingTool | null>(null);
  const [selected, setSelected] = createSignal<string | null>(null);
  // Programmatic removals (symbol switch, clear all) must not be saved as user deletions one by one.
  let quiet = false;
  // Unmounted: handlers still bound to its overlays must not save (see onCleanup).
  let disposed = false;
  let symbol = props.symbol;

  const snapshot = (): SavedDrawing[] =>
    chart
      .getOverlays({ groupId: GROUP })
      .filter((o) => o.currentStep === -1)
      .map((o: Overlay) => {
        const d: SavedDrawing = { id: o.id, name: o.name as DrawingTool, points: o.points.flatMap((p) => (p.timestamp !== undefined && p.value !== undefined ? [{ timestamp: p.timestamp, value: p.value }] : [])) };
        if (typeof o.extendData === 'string') d.text = o.extendData;
        if (o.lock && !saved().locked) d.locked = true;
        return d;
      });
  /** `removing`: KLineChart calls onRemoved before it drops the overlay from its list. */
  const persist = (removing?: string) => {
    if (quiet || disposed) return;
    const next = { ...saved(), items: snapshot().filter((d) => d.id !== removing) };
    setSaved(next);
    saveDrawings(symbol, next);
  };

  const handlers = (): Partial<OverlayCreate> => ({
    groupId: GROUP,
    onDrawEnd: () => {
      setActive(null);
      persist();
    },
    onPressedMoveEnd: () => persist(),
    onRemoved: ({ overlay }) => {
      if (selected() === overlay.id) setSelected(null);
      persist(overlay.id);
    },
    onSelected: ({ overlay }) => setSelected(overlay.id),
    onDeselected: ({ overlay }) => {
      if (selected() === overlay.id) setSelected(null);
    },
  });

  const restore = (sym: string) => {
    quiet = true;
    chart.removeOverlay({ groupId: GROUP });
    quiet = false;
    symbol = sym;
    setSelected(null);
    setActive(null);
    const s = loadDrawings(sym);
    setSaved(s);
    const creates = s.items.map(
      (d): OverlayCreate => ({
        ...handlers(),
        name: d.name,
        id: d.id,
        points: d.points,
        lock: s.locked || d.locked === true,
        visible: !s.hidden,
        ...(d.text !== undefined ? { extendData: d.text } : {}),
      }),
    );
    if (creates.length) chart.createOverlay(creates);
  };

  createEffect(on(() => props.symbol, (sym) => restore(sym)));

  onCleanup(() => {
    removeSelected = undefined;
    // Its overlays go with it. Left on the chart, they showed on the next symbol, and the next layer's
    // restore removed them through this one's handlers, which saved the old symbol's drawings as
    // none (a chart soak: a symbol's drawings lost for good after a switch away and back).
    disposed = true;
    quiet = true;
    try {
      chart.removeOverlay({ groupId: GROUP });
    } catch {
      // The chart is gone already (the page closes): nothing to remove.
    }
  });
  createEffect(() => {
    // Only while something is selected does the Delete key belong to the drawings.
    removeSelected = selected() ? () => chart.removeOverlay({ id: selected()! }) : undefined;
  });

  const start = (tool: DrawingTool) => {
    if (active() === tool) {
      // A second press cancels the drawing in progress.
      for (const o of chart.getOverlays({ groupId: GROUP })) if (o.currentStep !== -1) chart.removeOverlay({ id: o.id });
      setActive(null);
      return;
    }
    let extendData: string | undefined;
    if (tool === 'textNote') {
      const text = window.prompt('Note text')?.trim();
      if (!text) return;
      extendData = text.slice(0, 500);
    }
    setActive(tool);
    chart.createOverlay({ ...handlers(), name: tool, lock: saved().locked, visible: true, ...(extendData !== undefined ? { extendData } : {}) });
    if (saved().hidden) setHidden(false);
  };
  const setLocked = (locked: boolean) => {
    chart.overrideOverlay({ groupId: GROUP, lock: locked });
    const next = { ...saved(), locked };
    setSaved(next);
    persist();
  };
  const setHidden = (hidden: boolean) => {
    chart.overrideOverlay({ groupId: GROUP, visible: !hidden });
    setSaved({ ...saved(), hidden });
    persist();
  };
  const clearAll = () => {
    quiet = true;
    chart.removeOverlay({ groupId: GROUP });
    quiet = false;
    setSelected(null);
    persist();
  };

  return (
    <Show when={props.showToolbar}>
      <div class="draw-toolbar" role="toolbar" aria-label="Drawing tools" aria-orientation="vertical" data-testid="draw-toolbar">
        <For each={[...DRAWING_TOOLS]}>
          {(tool) => (
            <button data-tool={tool} aria-label={TOOL_LABELS[tool].label} title={TOOL_LABELS[tool].label} aria-pressed={active() === tool} onClick={() => start(tool)}>
              <span aria-hidden="true">{TOOL_LABELS[tool].icon}</span>
            </button>
          )}
        </For>
        <hr />
        <button data-action="lock" aria-label={saved().locked ? 'Unlock drawings' : 'Lock drawings'} title={saved().locked ? 'Unlock drawings' : 'Lock drawings'} aria-pressed={saved().locked} onClick={() => setLocked(!saved().locked)}>
          <svg aria-hidden="true" viewBox="0 0 16 16" width="15" height="15" fill="none" stroke="currentColor" stroke-width="1.5">
            <rect x="3" y="7" width="10" height="7" rx="1" />
            <path d={saved().locked ? 'M5 7V5a3 3 0 0 1 6 0v2' : 'M5 7V5a3 3 0 0 1 6 0'} />
          </svg>
        </button>
        <button data-action="hide" aria-label={saved().hidden ? 'Show drawings' : 'Hide drawings'} title={saved().hidden ? 'Show drawings' : 'Hide drawings'} aria-pressed={saved().hidden} onClick={() => setHidden(!saved().hidden)}>
          <span aria-hidden="true">{saved().hidden ? '◌' : '◉'}</span>
        </button>
        <button data-action="delete" aria-label="Delete selected drawing (Delete)" title="Delete selected drawing (Delete)" disabled={!selected()} onClick={() => removeSelected?.()}>
          <span aria-hidden="true">⌫</span>
        </button>
        <button data-action="clear" aria-label="Clear all drawings" title="Clear all drawings" disabled={!saved().items.length} onClick={clearAll}>
          <svg aria-hidden="true" viewBox="0 0 16 16" width="15" height="15" fill="none" stroke="currentColor" stroke-width="1.5">
            <path d="M2.5 4h11M6 4V2.5h4V4M4 4l.7 9.5h6.6L12 4M6.5 6.5v5M9.5 6.5v5" />
          </svg>
        </button>
      </div>
    </Show>
  );
}
