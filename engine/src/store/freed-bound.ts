/**
 * The bound on freed series Redis keeps, counted in Redis itself (a sorted set scored by when each was
 * freed, by Redis's clock), so it holds across processes and restarts. The expiry alone bounded how
 * long, not how many: on-demand series asked for at the per-address rate (and from many addresses)
 * kept about 300 KB each for an hour, so Redis grew by hundreds of MB in minutes; a count in a
 * process's memory started from zero at each restart (or each new leader).
 *
 * `freedBoundLua` is the Lua that counts one freed series and drops the oldest beyond the bound, for
 * the scripts that free one (ROLE=all's store below, a cluster leader's SERIES_FREE_LUA): each
 * argument is a Lua expression. A series whose candles are kept for good again (live since) is
 * forgotten, not dropped; one never written is not counted (it would push a real one out). Key names
 * of dropped series are made from their members (validated SeriesId keys) with `prefix` and each of
 * `kinds` (`candles:` first): a single-instance Redis. `keptFor`: a log written while held keeps a TTL
 * of its own (a derived-series instance's: a day), so one whose TTL is longer than a free's was held
 * again and is forgotten too; default: only one kept for good (no TTL).
 */
export function freedBoundLua(o: { set: string; candles: string; member: string; ttl: string; max: string; prefix: string; kinds: readonly string[]; keptFor?: 'ever' | 'longer' }): string {
  const others = o.kinds.slice(1).map((k) => `, p .. '${k}' .. old[i]`).join('');
  return `
if redis.call('EXISTS', ${o.candles}) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', ${o.set}, now, ${o.member})
redis.call('ZREMRANGEBYSCORE', ${o.set}, '-inf', now - ${o.ttl})
local dropped = 0
local over = redis.call('ZCARD', ${o.set}) - tonumber(${o.max})
if over > 0 then
  local old = redis.call('ZPOPMIN', ${o.set}, over)
  for i = 1, #old, 2 do
    local p = ${o.prefix}
    local c = p .. '${o.kinds[0]}' .. old[i]
    local left = redis.call('PTTL', c)
    if ${o.keptFor === 'longer' ? `left ~= -1 and left <= ${o.ttl}` : 'left ~= -1'} then
      redis.call('DEL', c${others})
      dropped = dropped + 1
    end
  end
end
redis.call('PEXPIRE', ${o.set}, ${o.ttl})
return dropped`;
}

/**
 * ROLE=all's store: a series freed (ttlMs > 0), set to expire and counted, or live again (0), kept
 * for good and no longer counted. KEYS: freed set, candles. ARGV: ttlMs, member (SYMBOL:interval),
 * max, keyPrefix. Returns the number of series dropped.
 */
export const STORE_FREE_LUA = `
local ttl = tonumber(ARGV[1])
if ttl == 0 then
  redis.call('PERSIST', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('PEXPIRE', KEYS[2], ttl)
${freedBoundLua({ set: 'KEYS[1]', candles: 'KEYS[2]', member: 'ARGV[2]', ttl: 'ttl', max: 'ARGV[3]', prefix: 'ARGV[4]', kinds: ['candles:'] })}`;
