import type { SeriesPositions } from '../cluster/position.ts';
import type { ResumeRequest } from '../cluster/resume-request.ts';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { recoveredMessage } from '../domain/wire.ts';
import type { SeriesInstance, SeriesRefusal } from '../series/series-registry.ts';
import { pointWire } from '../series/series-wire.ts';
import type { SeriesWindow } from '../store/series-window.ts';
import type { Hub } from './hub.ts';

export interface FirstMessageInput {
  id: SeriesId;
  window: SeriesWindow;
  hub: Hub;
  historyOnConnect: number;
  positions: SeriesPositions | undefined;
  resume: ResumeRequest | undefined;
  instances: readonly SeriesInstance[];
  /** Derived series asked for and refused to this socket alone: listed with no points and failed, with why. */
  refused?: readonly SeriesRefusal[];
}

/**
 * The first message of a socket, built in the same synchronous turn as its subscribe: `recovered`
 * when it resumes within the kept history (only the bars touched since, with every derived point
 * from the bar before the oldest of them on (resumedSpan), each series from its point in force
 * there (a resampled bucket's, at the bucket's open): a bar corrected late recomputes the points after it too, and points
 * at the touched times alone left those stale, a review; and the failed series' `seriesStatus`, as
 * `historical`), else `historical` at the current position (`"recovered":false` when a resume was
 * asked for), with derived series aligned to the snapshot's candles. A plain snapshot is the cached
 * buffer every client of a connect storm shares.
 */
export function firstMessage(input: FirstMessageInput): string | Buffer {
  const { id, window, hub, positions, resume } = input;
  const refused = input.refused ?? [];
  // By label: the same series asked in another order share their cached message.
  const instances = input.instances.length > 1 ? [...input.instances].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0)) : input.instances;
  /** One series' `"label":[points]` between two bar times. */
  const part = (inst: SeriesInstance, from: number, to: number) => `${JSON.stringify(inst.label)}:${JSON.stringify(inst.window.between(from, to).map(pointWire))}`;
  // A refused series is listed too (no points): a resumed client takes one missing for a series to fetch.
  const refusedParts = refused.map((r) => `${JSON.stringify(r.label)}:[]`);
  const recovery = resume && positions?.recover(id, resume.epoch, resume.since);
  if (recovery) {
    const msg = recoveredMessage(id.symbol, id.interval, recovery.bars, recovery.position);
    if (!instances.length && !refused.length) return msg;
    const [from, to] = resumedSpan(recovery.bars, window);
    // Its series' status as `historical` carries it: a series that failed while the client was away
    // was never told it otherwise (its `series_status` went out then, and a repeat of the same error
    // is not sent again); one not listed runs, so a client that held it failed clears that.
    const status = seriesStatus(instances, refused);
    // Each series from its point in force at `from`: a point's time may be older than its bar (a
    // resampled bucket's open), and a bucket that closed while the client was away left its preview
    // stale for good (a quant review: 52.53 forming held, 50.73 closed served).
    const parts = instances.map((inst) => part(inst, inst.window.atOrBefore(from)?.time ?? from, to));
    return `${msg.slice(0, -1)},"series":{${[...parts, ...refusedParts].join(',')}}${status ? `,${status}` : ''}}`;
  }
  const snapshot = hub.snapshot(id, window, positions?.position(id));
  if (!instances.length && !refused.length && !resume) return snapshot.bytes;
  // With derived series too: kept while the candles and every instance's points stay the same, so a
  // client reconnecting in a loop with 16 series costs one serialization per change, not 850 KB
  // built per connect.
  const key = `${id.key}|${resume ? 'r' : ''}|${instances.map((inst) => inst.label).join('|')}${refused.length ? `|${JSON.stringify(refused)}` : ''}`;
  const stamp = `${snapshot.serial}|${instances.map((inst) => `${inst.window.serial}.${inst.window.version}.${inst.state}.${inst.error ?? ''}`).join('|')}`;
  return hub.firstMessages.get(key, stamp, () => {
    const bars = window.last(input.historyOnConnect);
    const status = seriesStatus(instances, refused);
    const [from, to] = span(bars);
    const parts = instances.map((inst) =>
      hub.seriesParts.get(`${id.key}|${inst.label}`, `${from}|${to}|${inst.window.serial}.${inst.window.version}`, () => part(inst, from, to)),
    );
    const extra = [
      resume ? '"recovered":false' : '',
      instances.length || refused.length ? `"series":{${[...parts, ...refusedParts].join(',')}}` : '',
      status,
    ].filter(Boolean);
    const json = `${snapshot.json.slice(0, -1)},${extra.join(',')}}`;
    // Its own allocation, as the hub's snapshots: a small kept message must not pin a slab of Buffer's shared pool.
    const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(json));
    bytes.write(json);
    return bytes;
  });
}

/**
 * `"seriesStatus":{…}` of the failed derived series, and those refused to the socket, with their
 * error (the client shows it rather than empty values), as `historical` and `recovered` carry it; ''
 * when none failed.
 */
function seriesStatus(instances: readonly SeriesInstance[], refused: readonly SeriesRefusal[]): string {
  const failed = [
    ...instances.filter((inst) => inst.state === 'failed').map((inst) => `${JSON.stringify(inst.label)}:${JSON.stringify({ state: 'failed', error: inst.error ?? 'failed' })}`),
    ...refused.map((r) => `${JSON.stringify(r.label)}:${JSON.stringify({ state: 'failed', error: r.error, ...(r.retryAfterSec ? { retryAfterSec: r.retryAfterSec } : {}) })}`),
  ];
  return failed.length ? `"seriesStatus":{${failed.join(',')}}` : '';
}

/**
 * The bar times a resume's derived points cover: from the bar before the oldest one touched since the
 * client's offset (the client's last bar: its final point may not have reached it, as on an edge a
 * point comes on a channel of its own after its bar, and the bar is never touched again) to the newest
 * touched; the newest bar alone when none was touched.
 */
function resumedSpan(bars: readonly Bar[], window: SeriesWindow): [number, number] {
  const newest = window.newest()?.openTime;
  if (!bars.length) return newest === undefined ? span([]) : [newest, newest];
  const [first, last] = span(bars);
  return [window.before(first - 1, 1)[0]?.openTime ?? first, last];
}

/** The open times of the first and last bars (an empty range when there are none). */
function span(bars: ReadonlyArray<{ openTime: number }>): [number, number] {
  return [bars[0]?.openTime ?? Infinity, bars[bars.length - 1]?.openTime ?? -Infinity];
}
