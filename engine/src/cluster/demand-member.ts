import { type SeriesId, seriesId } from '../domain/series-id.ts';

/** How often an edge touches the on-demand series it holds in the cluster's wanted set. */
export const DEMAND_TOUCH_MS = 1000;
/** A wanted series no edge touched for this long is released by the leader. */
export const DEMAND_STALE_MS = 5 * DEMAND_TOUCH_MS;

/** Longest `SYMBOL:interval` member worth parsing (symbols are at most 20 characters). */
const MAX_MEMBER = 40;

/**
 * A member of the cluster's wanted set, read back from Redis: a validated SeriesId, or undefined for
 * anything malformed (it is skipped and counted, never turned into a key).
 */
export function parseDemandMember(member: string): SeriesId | undefined {
  if (member.length > MAX_MEMBER) return undefined;
  const i = member.indexOf(':');
  if (i <= 0) return undefined;
  try {
    return seriesId(member.slice(0, i), member.slice(i + 1));
  } catch {
    return undefined;
  }
}

/** What a client address looks like once clientAddress made it (IPv4, or IPv6 without a zone id). */
const ASKER_RE = /^[0-9A-Fa-f.:]{1,39}$/;

/**
 * An edge's nudge to the leader: the member it asks for, then the client address that asked (the
 * leader's waited-for loads take turns by it, as ROLE=all's do). A nudge is a hint: one lost (pub/sub
 * drops it) or without an address leaves the load one turn among those of no known address.
 */
export function demandNudge(member: string, asker: string): string {
  return asker ? `${member} ${asker}` : member;
}

/** A nudge read back: the member and its asker, or undefined when it names no valid address. */
export function parseDemandNudge(text: string): { member: string; asker: string } | undefined {
  const i = text.indexOf(' ');
  if (i <= 0) return undefined;
  const asker = text.slice(i + 1);
  return ASKER_RE.test(asker) ? { member: text.slice(0, i), asker } : undefined;
}

/**
 * The leader's answer for a wanted series, as stored under `served:<key>`. A refusal's code says its
 * kind: `series_busy` (a derived series at the leader's caps) is refused to the client as ROLE=all
 * refuses it; any other (and an older leader's answer) is the series' failure.
 */
export type ServedAnswer = { state: 'live' } | { state: 'refused'; code: string; message: string };

export function encodeServed(a: ServedAnswer): string {
  return a.state === 'live' ? 'live' : `refused ${a.code} ${a.message}`;
}

export function parseServed(text: string | null): ServedAnswer | undefined {
  if (text === 'live') return { state: 'live' };
  const m = text === null ? null : /^refused ([a-z_]{1,40}) (.{0,500})$/s.exec(text);
  return m ? { state: 'refused', code: m[1]!, message: m[2]! } : undefined;
}
