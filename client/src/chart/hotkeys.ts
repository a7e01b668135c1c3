import { type Chart, registerHotkey } from 'klinecharts';

/**
 * Chart keys (KLineChart hot keys, global to every chart, ignored while typing in a field): left and
 * right pan, up/down and +/- zoom, Home the oldest loaded bar, End back to live. Keys pressed inside
 * a menu, dialog or list belong to it.
 */
const owned = (e: KeyboardEvent) => {
  const t = e.target as HTMLElement | null;
  return !t?.closest?.('[role=menu],[role=dialog],[role=listbox],select');
};

let registered = false;

export function registerChartHotkeys(): void {
  if (registered) return;
  registered = true;
  const pan = (bars: number) => ({ chart }: { chart: Chart }) => chart.scrollByDistance(bars * chart.getBarSpace().bar);
  // Zoom about the live bar when it is in view (the chart stays live), else about the middle of the view.
  const zoom = (scale: number) => ({ chart }: { chart: Chart }) => {
    const r = chart.getVisibleRange();
    const last = chart.getDataList().length - 1;
    chart.zoomAtDataIndex(scale, r.to >= last ? last : Math.round((r.from + r.to) / 2));
  };
  const check = ({ event }: { event: KeyboardEvent }) => owned(event);
  registerHotkey({ name: 'panOlder', keys: ['ArrowLeft'], check, action: pan(10) });
  registerHotkey({ name: 'panNewer', keys: ['ArrowRight'], check, action: pan(-10) });
  registerHotkey({ name: 'zoomInKey', keys: ['ArrowUp', 'Equal', 'Shift+Equal', 'NumpadAdd'], check, action: zoom(1.25) });
  registerHotkey({ name: 'zoomOutKey', keys: ['ArrowDown', 'Minus', 'NumpadSubtract'], check, action: zoom(0.8) });
  registerHotkey({ name: 'oldest', keys: ['Home'], check, action: ({ chart }) => chart.scrollToDataIndex(0, 200) });
  registerHotkey({ name: 'live', keys: ['End'], check, action: ({ chart }) => chart.scrollToRealTime(200) });
}
