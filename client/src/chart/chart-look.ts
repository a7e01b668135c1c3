import type { CandleType, Chart, DeepPartial, Styles } from 'klinecharts';
import type { ChartType, Scale } from '../url-state.ts';

const CANDLE_TYPES: Record<ChartType, CandleType> = { candles: 'candle_solid', hollow: 'candle_stroke', bars: 'ohlc', line: 'area', area: 'area' };

/** KLineChart styles for a chart type: `line` is an area without its fill. */
export function chartTypeStyles(type: ChartType): DeepPartial<Styles> {
  const area = type === 'line' ? { backgroundColor: 'rgba(0,0,0,0)' } : { backgroundColor: [{ offset: 0, color: 'rgba(41, 98, 255, 0.01)' }, { offset: 1, color: 'rgba(41, 98, 255, 0.2)' }] };
  return { candle: { type: CANDLE_TYPES[type], area: { ...area, lineColor: '#2962ff', lineSize: 2, value: 'close' } } };
}

const AXIS_NAMES: Record<Scale, string> = { linear: 'normal', log: 'logarithm', percent: 'percentage' };

/** Price scale of the candle pane (KLineChart's normal, logarithm and percentage y-axes). */
export function applyScale(chart: Chart, scale: Scale): void {
  chart.overrideYAxis({ paneId: 'candle_pane', name: AXIS_NAMES[scale] });
}

/**
 * The countdown line under the last price label (`54,008.96` over `00:37`): KLineChart redraws the
 * label every second (`updateInterval`) and asks `formatExtendText` for its text.
 */
export function countdownStyles(): DeepPartial<Styles> {
  return {
    candle: {
      priceMark: {
        last: {
          extendTexts: [
            {
              show: true,
              position: 'below_price',
              updateInterval: 1000,
              style: 'fill',
              size: 12,
              paddingLeft: 4,
              paddingTop: 2,
              paddingRight: 4,
              paddingBottom: 4,
              borderColor: 'transparent',
              borderStyle: 'solid',
              borderSize: 0,
              borderDashedValue: [2, 2],
              color: '#ffffff',
              family: 'Helvetica Neue',
              weight: 'normal',
              borderRadius: 2,
            },
          ],
        },
      },
    },
  };
}
