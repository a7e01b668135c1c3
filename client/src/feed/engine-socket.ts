import { clearPosition, forgetUpstream, mergeCandle, mergeCandles, resetPosition, setCandlesForSymbol, setConnection, setError, setPosition, setUpstream } from '../store/actions.ts';
import { seriesKey } from '../store/candle.ts';
import { market } from '../store/market.ts';
import { mergeSeriesPoint, mergeSeriesPoints, setSeriesPoints, setSeriesStatus } from '../store/series-points.ts';
import { observeSkew } from './exchange-clock.ts';
import { parseEngineMessage } from './messages.ts';
import { refusedSeriesName } from './refused-series.ts';
import type { SeriesState } from './wire.ts';
import { FeedLag } from './feed-lag.ts';
import { GAPS_KEPT, isStale, pushIntervalMs, STALE_PUSHES } from './staleness.ts';

/** Close code the engine sends after an `error` message: retrying would fail the same way. */
const CLOSE_BAD_REQUEST = 4000;
/** Longest wait between reconnect attempts: the chart is back within about this long of the engine. */
export const MAX_RETRY_MS = 1000;

/**
 * A connection that stayed open this long ends a run of failures (the backoff starts over). A snapshot
 * alone proves nothing: a server that closes right after it (1013, 1008, a cluster's connection cap)
 * would otherwise be reconnected to every 100 ms, each time for a full snapshot.
 */
export const STABLE_MS = 5000;
/** Close-4000 refusals that name a passing condition: retried, the rest are the request's fault. */
const RETRYABLE_REFUSALS = new Set(['rate_limited', 'series_capacity', 'series_busy', 'server_busy']);
/** Wait after a retryable refusal that says no time (a capacity frees up in seconds, not at once). */
export const REFUSED_RETRY_MS = 5000;
/**
 * A symbol that stopped trading while the chart showed it is asked for again this often: a halt
 * (BREAK for a few minutes) ended the chart for good (a review). One never served is final (a typo).
 */
export const STOPPED_SYMBOL_RETRY_MS = 60_000;

/**
 * Nothing at all came on the socket for this long, the chart stale meanwhile, while the engine last
 * said its upstream is live: the socket is taken for dead and opened again, resuming. A dropped NAT
 * mapping or a network change closes nothing, and a browser that sends nothing never learns (a chart
 * soak: `stale` for good, while a new connection would have worked at once). Any message proves the
 * socket alive: judged by how long the chart had been stale, a socket that had just said the
 * exchange was back (a 60 s stall) was dropped for nothing, the badge going stale, connecting, live,
 * stale, live (a review). Doubles while reopening does not help (a market that went quiet without
 * the engine saying so), up to DEAD_SOCKET_MAX_MS.
 */
export const DEAD_SOCKET_MS = 5000;
export const DEAD_SOCKET_MAX_MS = 60_000;

/**
 * The same while the engine last said its upstream is not live (reconnecting, stale): no candles are
 * due then, but the engine says its state again every 10 s (STATUS_REPEAT_MS), so nothing at all for
 * this long is a dead socket too. Before, such a socket was kept for good: the badge read
 * reconnecting, no reconnect was ever tried, and the chart fell behind once the market was back (a
 * chart-under-faults review). A replay that ended says nothing more: its socket is left alone (as
 * one whose engine never said its state).
 */
export const QUIET_SOCKET_MS = 25_000;

/** While the browser says it is offline, a closed socket is tried again this often (the `online` event tries at once). */
export const OFFLINE_RETRY_MS = 30_000;

/**
 * Updates handled later than this (see FeedLag) mean the chart shows the past as live: the socket is
 * dropped and a new one resumes, its `recovered` message one bar per bar touched meanwhile instead
 * of every update that waited (a browser that cannot keep up skips ahead instead of falling behind
 * until the engine closes the socket that it no longer reads, and the resume is too old to serve).
 */
export const behindMs = (interval: string) => STALE_PUSHES * pushIntervalMs(interval);

/**
 * A reopen for lateness waits up to this long, at random: an engine whose clock stepped back makes
 * every one of its clients see its updates late on the same push (a probe: −7 s, one reopen each).
 */
export const LAG_REOPEN_JITTER_MS = 1000;

/**
 * A socket not open after this long is given up and the next one tried: a connect into a network that
 * drops packets (a Wi-Fi hand-over, a VPN coming up) hangs until the browser's own TCP timeout, 75 s
 * or more, the badge reading reconnecting meanwhile (a review).
 */
export const CONNECT_TIMEOUT_MS = 10_000;
/** `WebSocket.CONNECTING` (a literal: the constant is the DOM's, which tests stand in for). */
const CONNECTING = 0;

/** Reconnect delay after `attempts` failures: 100 ms, 200, 400, 800, then 1 s, each with jitter so a restart is not met by every browser in the same millisecond. */
export const retryDelay = (attempts: number, random = Math.random()) => Math.min(MAX_RETRY_MS, 100 * 2 ** Math.min(attempts - 1, 4)) * (0.5 + random / 2);

/** The longest a derived series refused at a cap waits before it is asked for again. */
const SERIES_RETRY_MAX_MS = 10 * 60_000;

export interface EngineSocketOptions {
  symbol: string;
  interval: string;
  /** Derived series to receive (`rsi`, `ema-cross:fast=5`). */
  series?: string[];
  /** Base URL of the engine's WebSocket (defaults to this page's host). */
  baseUrl?: string;
  /** After a resume: the bars the socket missed and the derived series whose points for them did not come along (the caller fetches those). */
  onRecovered?: (bars: ReadonlyArray<{ time: number }>, missingSeries: string[]) => void;
  /**
   * The engine refused the socket for one of its derived series (see refusedSeriesName): the caller
   * drops that series and connects again. Without it the refusal is final, as any other.
   */
  onSeriesRefused?: (name: string, message: string) => void;
}

/**
 * One socket per chart: `historical` replaces the series in the store, each `live_candle` is merged.
 * On a reconnect it resumes from the last position it saw (`&epoch=&since=`): a `recovered` message
 * is merged into what the chart has, a `historical` (resume refused) replaces it. Returns a function
 * that closes the socket and stops every timer.
 */
export function connectEngine(opts: EngineSocketOptions): () => void {
  const base = opts.baseUrl ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  const seriesParam = opts.series?.length ? `&series=${encodeURIComponent(opts.series.join(','))}` : '';
  const key = seriesKey(opts.symbol, opts.interval);
  let ws: WebSocket | undefined;
  /** Connections in a row that closed before STABLE_MS. */
  let attempts = 0;
  /** A first message (historical or recovered) came on this view: from then on a reconnect resumes. */
  let served = false;
  /** Until then the server asked us to stay away: `online` does not cut the wait short. */
  let holdUntil = 0;
  let stopped = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let lastArrival = 0;
  const gaps: number[] = [];
  /** Since when the view has been stale (0: it is not), and the reopens that did not bring it back. */
  let staleSince = 0;
  /** When the socket last brought anything (or was opened). */
  let lastMessageAt = 0;
  let deadReopens = 0;
  const lag = new FeedLag();
  let lagReopen: ReturnType<typeof setTimeout> | undefined;
  /** Gives up the socket if it is not open by CONNECT_TIMEOUT_MS. */
  let connectTimer: ReturnType<typeof setTimeout> | undefined;
  /** A derived series the engine refused at a cap is asked for again (a resume) once its time is up. */
  let seriesRetry: ReturnType<typeof setTimeout> | undefined;
  /** The next socket asks for a snapshot, not a resume. */
  let fresh = false;
  /** Series retries in a row that were refused again: each waits twice the last (up to SERIES_RETRY_MAX_MS). */
  let seriesRefusals = 0;
  const retryRefusedSeries = (status: Record<string, SeriesState>) => {
    const waits = (opts.series ?? []).flatMap((label) => {
      const st = status[label];
      return st?.state === 'failed' && st.retryAfterSec ? [st.retryAfterSec] : [];
    });
    if (!waits.length) seriesRefusals = 0;
    if (!waits.length || seriesRetry !== undefined) return;
    // Each a snapshot that reloads the chart: at the cap's own pace, every 30–37 s for as long as the
    // cap held (a review: 107 reloads an hour). Doubled while refused again, up to 10 minutes.
    const backoff = Math.min(2 ** seriesRefusals++, SERIES_RETRY_MAX_MS / 1000 / Math.max(...waits));
    // Jittered: a crowd refused together spreads out. A fresh snapshot, not a resume: a resume's
    // `recovered` holds a series' points for the bars missed only (none of its history; a diff review).
    seriesRetry = setTimeout(() => {
      seriesRetry = undefined;
      if (stopped) return;
      fresh = true;
      // Closed, its retry pending (or a wait the server named): that retry asks for the snapshot.
      // Opened here as well, two sockets ran, one never closed (a review).
      if (!ws || Date.now() < holdUntil) return;
      reopen();
    }, Math.max(...waits) * 1000 * Math.max(1, backoff) * (1 + Math.random() / 4));
  };

  /**
   * A first message: the feed is alive now. Its bars came at once, no pace to learn; when it brought
   * some, what the market did while away is unknown, so the next gap is not learned. An empty
   * `recovered` says the market did nothing meanwhile: the gap since the last update runs on. The
   * pace learned before is kept. (Cleared at every first message, a quiet market went stale a few
   * seconds after each resume, and the dead-socket reopens between its updates kept it from ever
   * learning its pace: a review.)
   */
  const caughtUp = (newest: { time: number; is_closed: boolean } | undefined) => {
    if (!newest) return market.setState({ lastUpdateAt: Date.now() });
    arrived(newest, false);
    lastArrival = 0;
  };

  const wasShown = () => Object.keys(market.getState().candlesByKey).some((k) => k.startsWith(`${opts.symbol}:`));

  // Only a reconnect resumes: a fresh view (first open, or a switch back to this series) starts from a
  // snapshot, so derived series and the store's window are as fresh as the candles.
  const url = () => {
    const pos = served && !fresh ? market.getState().positionByKey[key] : undefined;
    fresh = false;
    const resume = pos ? `&epoch=${encodeURIComponent(pos.epoch)}&since=${pos.offset}` : '';
    return `${base}/ws/${encodeURIComponent(opts.symbol)}?interval=${encodeURIComponent(opts.interval)}${seriesParam}${resume}`;
  };

  /** `waited`: how long the update waited on its way beyond the quickest (FeedLag); the exchange's clock is read as if it had not. */
  const arrived = (bar: { time: number; is_closed: boolean }, fresh: boolean, waited = 0) => {
    const now = Date.now();
    if (lastArrival && fresh) {
      gaps.push(now - lastArrival);
      if (gaps.length > GAPS_KEPT) gaps.shift();
    }
    lastArrival = now;
    if (fresh) deadReopens = 0;
    const s = market.getState();
    const skew = observeSkew(s.clockSkew, bar, opts.interval, now - waited, fresh);
    market.setState(skew === s.clockSkew ? { lastUpdateAt: now } : { lastUpdateAt: now, clockSkew: skew });
  };

  const open = () => {
    if (stopped) return;
    // One socket, one pending retry at most: whatever opens it supersedes both.
    clearTimeout(retryTimer);
    retryTimer = undefined;
    const old = ws;
    ws = undefined;
    if (old) {
      old.onclose = null;
      old.onmessage = null;
      old.close();
    }
    lag.reset();
    clearTimeout(lagReopen);
    lagReopen = undefined;
    clearTimeout(connectTimer);
    // A view that was served reopens (a dead or late socket): reconnecting, not connecting.
    setConnection(attempts === 0 && !served ? 'connecting' : 'reconnecting');
    forgetUpstream();
    lastMessageAt = Date.now();
    // This socket's first message says again which series wait for a retry (one may be served now).
    clearTimeout(seriesRetry);
    seriesRetry = undefined;
    const socket = new WebSocket(url());
    ws = socket;
    let openedAt = 0;
    let refusal: { code?: string; message: string; retryAfterSec?: number } | undefined;
    connectTimer = setTimeout(() => {
      connectTimer = undefined;
      // Closing a socket that is still connecting fails it: its close comes, and the retry with it.
      if (ws === socket && socket.readyState === CONNECTING) socket.close();
    }, CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      openedAt = Date.now();
      if (ws === socket) clearTimeout(connectTimer);
    };
    /** A first message (historical or recovered) came on this socket. */
    let first = false;
    socket.onmessage = (ev) => {
      lastMessageAt = Date.now();
      const msg = typeof ev.data === 'string' ? parseEngineMessage(ev.data) : undefined;
      if (stopped) return;
      if (!msg) {
        // A first message it cannot take (one bad candle refuses it whole: a hole is worse than a
        // retry): the socket goes and the next asks for a snapshot, after the usual backoff. Kept, the
        // hole stayed and the badge read reconnecting for good (a review).
        if (!first && typeof ev.data === 'string' && /^\{"type":"(historical|recovered)"/.test(ev.data)) {
          fresh = true;
          socket.close(1000, 'unreadable first message');
        } else if (typeof ev.data === 'string' && /^\{"type":"live_candle"/.test(ev.data)) {
          // An update it cannot take: skipped, the next one's position passed it, and that bar's
          // version was lost even to a resume (a review). A new socket resumes from the last one taken.
          socket.close(1000, 'unreadable update');
        }
        return;
      }
      // Another series' message (an edge's fault, a hostile server): it moved this view's clock and
      // lastUpdateAt, and left a series of its own in the store.
      if ('symbol' in msg && (msg.symbol !== opts.symbol || msg.interval !== opts.interval)) return;
      if (msg.type === 'historical' || msg.type === 'recovered') first = true;
      switch (msg.type) {
        case 'historical': {
          served = true;
          for (const [label, points] of Object.entries(msg.series)) setSeriesPoints(label, msg.symbol, msg.interval, points);
          // A reload mid-stream carries candles only: it says nothing of the series (read as "none
          // failed", it cleared a failed one's banner and restarted a refused one's backoff: a review).
          const status = msg.seriesStatus;
          if (status) {
            for (const label of opts.series ?? []) setSeriesStatus(label, msg.symbol, msg.interval, status[label]);
            retryRefusedSeries(status);
          }
          setCandlesForSymbol(msg.symbol, msg.interval, msg.data);
          if (msg.position) resetPosition(msg.symbol, msg.interval, msg.position);
          else clearPosition(msg.symbol, msg.interval);
          caughtUp(msg.data.at(-1));
          market.setState({ error: null });
          setConnection('live');
          break;
        }
        case 'recovered':
          served = true;
          for (const [label, points] of Object.entries(msg.series)) mergeSeriesPoints(label, msg.symbol, msg.interval, points);
          // As on `historical`: a series that failed while away says so; one not listed runs (again).
          for (const label of opts.series ?? []) if (label in msg.series) setSeriesStatus(label, msg.symbol, msg.interval, msg.seriesStatus[label]);
          retryRefusedSeries(msg.seriesStatus);
          mergeCandles(msg.symbol, msg.interval, msg.data);
          setPosition(msg.symbol, msg.interval, msg.position);
          caughtUp(msg.data.reduce<(typeof msg.data)[number] | undefined>((a, b) => (a && a.time >= b.time ? a : b), undefined));
          market.setState({ error: null });
          setConnection('live');
          if (msg.data.length) opts.onRecovered?.(msg.data, (opts.series ?? []).filter((label) => !(label in msg.series)));
          break;
        case 'loading':
          setConnection('loading');
          break;
        case 'live_candle': {
          mergeCandle(msg.symbol, msg.interval, msg.candle);
          if (msg.position) setPosition(msg.symbol, msg.interval, msg.position);
          const waited = msg.at === undefined ? 0 : lag.observe(msg.at, Date.now());
          arrived(msg.candle, true, waited);
          if (waited > behindMs(opts.interval) && lagReopen === undefined) lagReopen = setTimeout(reopen, Math.random() * LAG_REOPEN_JITTER_MS);
          if (market.getState().connection === 'stale') setConnection('live');
          break;
        }
        case 'series_point':
          mergeSeriesPoint(msg.name, msg.symbol, msg.interval, msg.point.time, msg.point.values);
          break;
        case 'series_status':
          setSeriesStatus(msg.name, msg.symbol, msg.interval, msg.status.state === 'live' ? undefined : msg.status);
          break;
        case 'status':
          setUpstream(msg.upstream, msg.source);
          break;
        case 'error':
          refusal = msg;
          setError(msg.message);
          break;
      }
    };
    socket.onclose = (ev) => {
      if (ws === socket) ws = undefined;
      // Closed anyway: the retry below opens the next socket, not a pending reopen too.
      clearTimeout(lagReopen);
      lagReopen = undefined;
      if (stopped) return;
      // Shown before: served on this view, or another interval of it kept in the store (a switch of
      // interval during a halt took the refusal as final: a review).
      const stoppedTrading = refusal?.code === 'symbol_not_trading' && (served || wasShown());
      const retryable = (refusal?.code !== undefined && RETRYABLE_REFUSALS.has(refusal.code)) || stoppedTrading;
      // One bad series refuses the whole socket (the catalog not fetched yet to weed it out): the
      // caller drops it and the candles load, instead of a dead chart (a review).
      const badSeries = ev.code === CLOSE_BAD_REQUEST && refusal && opts.onSeriesRefused ? refusedSeriesName(refusal, opts.series ?? []) : undefined;
      if (badSeries !== undefined) {
        opts.onSeriesRefused!(badSeries, refusal!.message);
        return;
      }
      if (ev.code === CLOSE_BAD_REQUEST && !retryable) {
        setConnection('error');
        return;
      }
      attempts = openedAt && Date.now() - openedAt >= STABLE_MS ? 1 : attempts + 1;
      let delay = retryDelay(attempts);
      // A refusal that names a time is waited out whatever the close (no_leader, server_full and
      // too_many_connections close 1013: retried within a second, each a snapshot refused again).
      if (refusal && (ev.code === CLOSE_BAD_REQUEST || refusal.retryAfterSec)) {
        // Not before the time the server named; jitter only later, so a crowd refused together spreads out.
        const wait = refusal.retryAfterSec ? refusal.retryAfterSec * 1000 : stoppedTrading ? STOPPED_SYMBOL_RETRY_MS : REFUSED_RETRY_MS;
        delay = Math.max(delay, wait * (1 + Math.random() / 4));
        holdUntil = Date.now() + delay;
        setError(`${refusal.message} (reconnecting in ${Math.ceil(delay / 1000)} s)`);
      }
      // Offline, a retry every second fails at once, each logged by the browser (15 in 9 s: a
      // review); `online` opens at once when the network is back. navigator.onLine can be wrong
      // the other way, so it is still tried now and then.
      if (typeof navigator !== 'undefined' && navigator.onLine === false) delay = Math.max(delay, OFFLINE_RETRY_MS);
      setConnection('reconnecting');
      retryTimer = setTimeout(open, delay);
    };
  };

  // The network came back: try now rather than at the next backoff tick (or instead of a connect that
  // may hang in the network that was).
  const online = () => {
    if (stopped || (ws && ws.readyState !== CONNECTING) || Date.now() < holdUntil) return;
    clearTimeout(retryTimer);
    open();
  };
  addEventListener('online', online);

  // The socket is dropped (what it still holds is not handled: see open) and a new one resumes.
  function reopen() {
    staleSince = 0;
    open();
  }

  /** How long a stale view's socket may bring nothing before it is taken for dead (see DEAD_SOCKET_MS, QUIET_SOCKET_MS). */
  const deadAfter = (upstreamLive: boolean) => {
    const backoff = Math.min(DEAD_SOCKET_MAX_MS, DEAD_SOCKET_MS * 2 ** deadReopens);
    return upstreamLive ? backoff : Math.max(QUIET_SOCKET_MS, backoff);
  };

  // A socket gone silent (its own close may never come).
  const reopenDead = () => {
    deadReopens++;
    reopen();
  };

  const staleTimer = setInterval(() => {
    const s = market.getState();
    const now = Date.now();
    if (s.connection !== 'stale') staleSince = 0;
    else if (!staleSince) staleSince = now;
    else if (s.upstream !== 'ended' && s.upstream !== 'unknown' && now - Math.max(staleSince, lastMessageAt) >= deadAfter(s.upstream === 'live')) return reopenDead();
    if (s.connection !== 'live') return;
    const stale = isStale({ interval: opts.interval, localNow: now, lastUpdateAt: s.lastUpdateAt, recentGaps: gaps, lastBarTime: s.candlesByKey[key]?.at(-1)?.time, skew: s.clockSkew });
    if (stale) setConnection('stale');
  }, 500);

  open();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    clearTimeout(seriesRetry);
    clearInterval(staleTimer);
    clearTimeout(lagReopen);
    clearTimeout(connectTimer);
    removeEventListener('online', online);
    ws?.close(1000, 'switching');
  };
}
