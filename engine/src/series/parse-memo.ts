import { ByteLru } from '../broadcast/byte-lru.ts';

/** Distinct `series=` values kept parsed, and their bytes (keys are a request's query, bounded by the server's URL limit). */
const MAX_ENTRIES = 512;
const MAX_BYTES = 2 * 1024 * 1024;

/**
 * A parse of `series=` specs remembered per (spec, interval). Charts reconnect with the same few
 * specs; an address's burst of sockets asking for the same 15 series parsed them once per socket, in
 * the upgrade handler (a profile of such a burst showed it among the stall's parts). The definitions never change
 * while the engine runs, so a parse, a refusal included, is the same every time; its requests are
 * shared between sockets and read, never written.
 */
export class ParseMemo<R> {
  private readonly memo = new ByteLru<string, { key: string; result: R }>((e) => 2 * e.key.length + 256, MAX_BYTES, MAX_ENTRIES);

  constructor(private readonly parse: (spec: string | undefined, interval: string) => R) {}

  get(spec: string | undefined, interval: string): R {
    if (!spec) return this.parse(spec, interval);
    const key = `${interval} ${spec}`;
    const hit = this.memo.get(key);
    if (hit) return hit.result;
    const result = this.parse(spec, interval);
    this.memo.set(key, { key, result });
    return result;
  }
}
