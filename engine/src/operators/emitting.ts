import { ignoreElements, Observable, type OperatorFunction, type Subscriber, tap } from 'rxjs';

export interface Handler<In> {
  next: (input: In) => void;
  /** Frees the handler's state on completion, error or unsubscribe. */
  finalize?: () => void;
}

/**
 * Builds a stateful operator whose handler emits zero or more outputs per input straight into the
 * subscriber. The source is subscribed *with that subscriber* (through `tap` + `ignoreElements`), which
 * links the two: when the consumer unsubscribes mid-loop (`take` on a synchronous source), the source
 * stops at once, which a plain `source.subscribe({ next })` inside `new Observable` would not do.
 */
export function emitting<In, Out>(init: (out: Subscriber<Out>) => Handler<In>): OperatorFunction<In, Out> {
  return (source) =>
    new Observable<Out>((subscriber) => {
      const handler = init(subscriber);
      source.pipe(tap({ next: handler.next, finalize: handler.finalize }), ignoreElements()).subscribe(subscriber);
    });
}
