import { Observable } from 'rxjs';

/** A lazy Observable over a Promise-returning call; unsubscribing aborts the call in flight. */
export function fromAbortable<T>(call: (signal: AbortSignal) => Promise<T>): Observable<T> {
  return new Observable<T>((subscriber) => {
    const ac = new AbortController();
    call(ac.signal).then(
      (value) => {
        subscriber.next(value);
        subscriber.complete();
      },
      (err) => subscriber.error(err),
    );
    return () => ac.abort(new Error('unsubscribed'));
  });
}
