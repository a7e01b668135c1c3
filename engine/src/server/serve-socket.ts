import type HyperExpress from 'hyper-express';
import { klineTopic, seriesId } from '../domain/series-id.ts';
import { errorMessage, loadingMessage } from '../domain/wire.ts';
import type { TurnBudget } from '../domain/turn-budget.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';
import { type Hub, STATUS_TOPIC } from '../broadcast/hub.ts';
import { firstMessage } from '../broadcast/first-message.ts';
import type { BarStore } from '../store/bar-store.ts';
import { SeriesBusyError } from '../series/series-errors.ts';
import { SERIES_CAP_RETRY_SEC, type SeriesInstance, type SeriesLease, type SeriesRefusal, type SeriesService } from '../series/series-registry.ts';
import type { SeriesPositions } from '../cluster/position.ts';
import type { AddressSeriesShares } from './address-series-shares.ts';
import { inboundRation } from './inbound-ration.ts';
import type { InstanceStarts } from './instance-starts.ts';
import type { PingRound } from './ping-round.ts';
import type { ResumeCatchUp } from './resume-catch-up.ts';
import type { SeriesFollowers } from './series-followers.ts';
import type { SlowClients } from './slow-clients.ts';
import { CLOSE_BAD_REQUEST, CLOSE_TRY_AGAIN } from './ws-close-codes.ts';
import type { ValidContext } from './ws-request.ts';

type Socket = HyperExpress.Websocket;

/** What serving a socket takes from its route: made once, shared by every socket. */
export interface SocketServing {
  /** Every socket served. */
  sockets: Set<Socket>;
  slow: SlowClients<Socket>;
  pings: PingRound<Socket>;
  followers: SeriesFollowers<Socket>;
  shares: AddressSeriesShares;
  instanceStarts: InstanceStarts;
  catchUp: ResumeCatchUp;
  /** The turns a live series' first messages go out in, and a cold one's (see registerWsRoute). */
  firstTurns: TurnBudget;
  coldTurns: TurnBudget;
  store: BarStore;
  hub: Hub;
  series: SeriesService;
  historyOnConnect: number;
  /** Epoch/offset per series and recent history for resumes (issue 13); absent: no positions on the wire. */
  positions?: SeriesPositions;
  /** Which shard of a topic a socket subscribes to (topic-shards.ts). */
  topics: { join(topic: string): string };
  /** Makes series live on demand and knows who holds them (absent: only live series are served). */
  demand?: SeriesDemand;
  /** Counts messages sent to clients. */
  sent(n: number): void;
  /** Counts sockets closed for sending a stream of frames (inbound-ration.ts). */
  floodClosed(): void;
}

/** Serves an accepted socket: its series' first message, then its topics. */
export function serveSocket(env: SocketServing, ws: Socket, ctx: ValidContext, address: string): void {
  const { sockets, slow, pings, followers, store, hub, series, sent } = env;
  const id = seriesId(ctx.symbol, ctx.interval);
  const { demand } = env;
  sockets.add(ws);
  // Set once the socket follows its series topics, so a socket closed before that un-follows nothing.
  let instances: SeriesInstance[] = [];
  // The socket holds its derived series while it is open (released on close).
  let leases: SeriesLease[] = [];
  let following = false;
  let held = false;
  let closed = false;
  /** Aborted on close: a wait for a cold series' load goes with its socket (made only for one: not a cost per socket). */
  const coldWait: { left?: AbortController } = {};
  // Its derived series' variants and instances as counted for its address (address-series-shares.ts).
  const shares = env.shares.socket(address, id);
  // The derived series this socket is served, and those refused to it alone (a cap, a warm-up
  // this interval cannot give): the refused ones go in its first message as failed, with why.
  let serving = [...(ctx.series ?? [])];
  const refusedSeries: SeriesRefusal[] = [...(ctx.refused ?? [])];
  // Every refusal here is a cap: the client may ask again later (the warm-up ones came with the request).
  const refuseOne = (label: string, error: string) => {
    serving = serving.filter((r) => r.label !== label);
    refusedSeries.push({ label, error, retryAfterSec: SERIES_CAP_RETRY_SEC });
  };
  ws.on('close', () => {
    closed = true;
    sockets.delete(ws);
    slow.forget(ws);
    pings.forget(ws);
    followers.remove(id.key, ws);
    if (following) for (const inst of instances) hub.unfollow(inst.topic);
    if (held) demand?.release(id);
    coldWait.left?.abort();
    for (const l of leases) l.release();
    shares.release();
  });
  const inboundFrame = inboundRation(ws, () => closed, env.floodClosed);
  pings.opened(ws);
  ws.on('message', inboundFrame);
  // Control frames too: hyper-express hands each to JavaScript and uWS answers every ping, so a
  // flood of them cost the engine as much CPU as messages (1.8 M pings in 8 s: 6.6 s of CPU, found
  // by an attacker-style probe). A browser answers the server's rare pings; it sends none.
  ws.on('ping', inboundFrame);
  ws.on('pong', (payload: ArrayBuffer) => {
    inboundFrame();
    pings.answered(ws, payload);
  });
  // `retryAfterSec`: when a refusal that passes (a rate, a capacity) may be tried again.
  const refuse = (message: string, code?: string, retryAfterSec?: number) => {
    ws.send(errorMessage(message, code, retryAfterSec));
    // A cluster with no leader passes (a client reconnects with its backoff); the rest is the request's fault.
    if (code === 'no_leader') ws.close(CLOSE_TRY_AGAIN, 'no leader: try again later');
    else ws.close(CLOSE_BAD_REQUEST, 'bad request');
  };
  // A derived series `acquire` refused with something other than a cap (an edge: a label that
  // cannot be a key): the request's fault. (A cap, SeriesBusyError, refuses that series alone.)
  const refuseSeries = (e: unknown) => {
    for (const l of leases) l.release();
    leases = [];
    if (closed) return;
    refuse((e as Error).message);
  };
  // Snapshot and subscribe in one synchronous turn: the pipeline updates the window before it
  // publishes, so no update can fall between the two (none lost, none duplicated). The turn is a
  // setImmediate (firstTurns'), not `open` itself: uWS corks `open`, and a snapshot bigger than the cork buffer
  // would leave a send buffer of its size attached to the socket for life (~80 KiB per client).
  // A resume ahead of this node's feed waits for it first (resume-catch-up.ts).
  const caughtUp = (go: () => void) => env.catchUp.when(id, ctx.resume, () => closed, go);
  // `later` runs the snapshot-and-subscribe turn: the next turn for a live series, a budgeted one for a cold one.
  // The address's shares first (variants, then instances), then the ration of new ones.
  const serve = (later: (turn: () => void) => void = (turn) => env.firstTurns.run(turn)) => shares.take(() => serving, refuseOne, () => closed, () => ration(later));
  // New instances' ration for the address (this node's, then the cluster's), then acquire.
  const ration = (later: (turn: () => void) => void) => {
    const starting = serving.filter((r) => !series.status(r.label, id)).length;
    env.instanceStarts.take(address, starting, () => closed, () => acquire(later), (message, wait) => refuse(message, 'rate_limited', wait));
  };
  const acquire = (later: (turn: () => void) => void) => {
    try {
      // Derived series are built on the live window (their warm-up reads it). One at a cap
      // (variants of a definition, instances in all) is refused alone.
      for (const r of [...serving]) {
        try {
          leases.push(series.acquire(r, id, address));
        } catch (e) {
          if (!(e instanceof SeriesBusyError)) throw e;
          refuseOne(r.label, e.message);
        }
      }
    } catch (e) {
      return refuseSeries(e);
    }
    instances = leases.map((l) => l.instance);
    const begin = () => caughtUp(() => later(() => {
      if (ws.closed) return;
      // historical (derived series aligned to its candles) or, for a resume, recovered.
      const first = firstMessage({ id, window: store.window(id), hub, historyOnConnect: env.historyOnConnect, positions: env.positions, resume: ctx.resume, instances, refused: refusedSeries });
      if (!slow.sendFirst(ws, address, first)) return;
      ws.send(hub.statusFor(id));
      // Each topic's shard with room (a big topic's fan-out goes in turns).
      ws.subscribe(env.topics.join(klineTopic(id)));
      ws.subscribe(env.topics.join(STATUS_TOPIC));
      for (const inst of instances) {
        ws.subscribe(env.topics.join(inst.topic));
        hub.follow(inst.topic);
      }
      following = true;
      followers.add(id.key, ws);
    }));
    // Series still warming up (off the request path, in slices) are waited for; the snapshot follows.
    // One the cluster's leader refused at its caps (an edge's `ready`) is refused alone, as here.
    if (instances.every((inst) => inst.state !== 'warming')) begin();
    else {
      const busy = new Set<SeriesLease>();
      const settled = leases.map((l) =>
        l.ready.then(
          () => undefined,
          (e: unknown) => {
            if (!(e instanceof SeriesBusyError)) throw e;
            busy.add(l);
            refuseOne(l.instance.label, e.message);
          },
        ),
      );
      void Promise.all(settled).then(() => {
        for (const l of busy) l.release();
        leases = leases.filter((l) => !busy.has(l));
        instances = leases.map((l) => l.instance);
        begin();
      }, refuseSeries);
    }
    sent(2);
  };
  if (!demand) return serve();
  const live = demand.isLive(id);
  held = true;
  let settled = false;
  // Not live: the series is bootstrapped on demand; the client waits for it alone. `loading` once
  // the ask passed every check (on an edge, the cluster's ration too): a refusal known at once
  // (rate_limited, capacity) must not be preceded by a promise of data.
  const wanted = demand.want(
    id,
    ctx.address,
    undefined,
    () => {
      if (settled || closed) return;
      ws.send(loadingMessage(id.symbol, id.interval));
      sent(1);
    },
    live ? undefined : (coldWait.left = new AbortController()).signal,
  );
  if (live) return serve();
  wanted.then(
    (outcome) => {
      settled = true;
      if (!outcome.ok) {
        held = false;
        if (!closed) refuse(outcome.message, outcome.code, outcome.retryAfterSec);
      } else if (!closed) {
        // Its snapshot is serialized in one budgeted turn (cached: the send finds it unless the
        // series changed meanwhile) and sent in another, each about a millisecond of work.
        env.coldTurns.run(() => {
          if (closed) return;
          if (!ctx.resume) hub.snapshot(id, store.window(id), env.positions?.position(id));
          serve((turn) => env.coldTurns.run(turn));
        });
      }
    },
    (e: unknown) => {
      settled = true;
      held = false;
      if (!closed) refuse(`could not load ${id.key}: ${(e as Error).message}`);
    },
  );
}
