export type WriteResult = { kind: 'written' | 'dropped'; epoch: string; offset: number } | { kind: 'fenced' };

/** A bar's write: `lost`, not written, the log is gone whole (see `write`'s `begins`). */
export type BarWriteResult = WriteResult | { kind: 'lost' };

/** A window's writes: `seeded` in one step (a log that did not exist), else how many of its bars were written and dropped as updates. */
export type WindowResult = { kind: 'seeded'; epoch: string } | { kind: 'updates'; written: number; dropped: number } | { kind: 'fenced' };
