import { filter, Observable, type OperatorFunction } from 'rxjs';

export interface Handler<In> {
  next: (input: In) => void;
  /** Frees the handler's state on completion, error or unsubscribe. */
  finalize?: () => void;
}

/**
 * Builds a stateful operator whose handler emits zero or more outputs per input straight into the
 * subscriber. The source is subscribed *with that subscriber* (through one `filter` that hands each
 * input to the handler and passes none on), which links the two: when the consumer unsubscribes
 * mid-loop (`take` on a synchronous source), the source stops at once, which a plain
 * `source.subscribe({ next })` inside `new Observable` would not do. One layer, not `tap` +
 * `ignoreElements`: this runs per bar for every indicator.
 */
export function emitting<In, Out>(init: (out: Emit<Out>) => Handler<In>): OperatorFunction<In, Out> {
  const op: OperatorFunction<In, Out> = (source) =>
    new Observable<Out>((subscriber) => {
      const handler = init(subscriber);
      const next = handler.next;
      const finalize = handler.finalize;
      if (finalize) subscriber.add(finalize);
      source
        .pipe(
          filter((input: In): input is never => {
            next(input);
            return false;
          }),
        )
        .subscribe(subscriber);
    });
  return Object.assign(op, { [DIRECT]: init });
}

/** Where a handler's outputs go. */
export interface Emit<Out> {
  next(value: Out): void;
}

const DIRECT = Symbol('emitting.init');

/** An operator's handler driven by plain calls (see `direct`). */
export interface DirectRun<In> {
  /** Throws what the handler throws (the RxJS path would send it as the stream's error). */
  next(input: In): void;
  /** Frees the handler's state. */
  stop(): void;
}

/**
 * The handler of an operator built by `emitting`, driven by plain calls instead of a subscription
 * (no Subscriber layers per input: the derived-series live path feeds every closed bar of every
 * instance this way); `undefined` for any other operator. Same handler, same outputs.
 */
export function direct<In, Out>(op: OperatorFunction<In, Out>, out: Emit<Out>): DirectRun<In> | undefined {
  const init = (op as { [DIRECT]?: (out: Emit<Out>) => Handler<In> })[DIRECT];
  if (!init) return undefined;
  const handler = init(out);
  return { next: handler.next, stop: () => handler.finalize?.() };
}
