import { errorMessage } from '../domain/wire.ts';
import { CLOSE_BAD_REQUEST } from './ws-close-codes.ts';

/** Sockets following each series (to end them when its symbol stops trading). */
export class SeriesFollowers<S extends { send(message: string): unknown; close(code: number, reason: string): void }> {
  private readonly bySeries = new Map<string, Set<S>>();

  /** `ws` follows the series `key` (`SYMBOL:interval`). */
  add(key: string, ws: S): void {
    let set = this.bySeries.get(key);
    if (!set) this.bySeries.set(key, (set = new Set()));
    set.add(ws);
  }

  /** `ws` closed. */
  remove(key: string, ws: S): void {
    this.bySeries.get(key)?.delete(ws);
    if (this.bySeries.get(key)?.size === 0) this.bySeries.delete(key);
  }

  /** Tells every follower of the series why it ended (`error` with `code`) and closes them with 4000. */
  end(key: string, code: string, message: string): void {
    for (const ws of this.bySeries.get(key) ?? []) {
      ws.send(errorMessage(message, code));
      ws.close(CLOSE_BAD_REQUEST, code);
    }
    this.bySeries.delete(key);
  }
}
