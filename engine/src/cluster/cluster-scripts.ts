/**
 * The cluster's Lua scripts. Each runs atomically in Redis: nothing interleaves with a write, and a
 * read sees one consistent moment of a series (bars and position together).
 */

/**
 * The body both fenced writes share. KEYS: lease, members (sorted set by time), pos, hist; ARGV[1]
 * token, ARGV[2] time, ARGV[3] member; `at` names the other arguments' places. `newer` runs with
 * the stored member `old` of the same time (not equal to the new one) and returns {0, offset, epoch}
 * to drop the update; `after` runs once it is written, before the reply.
 */
function fencedLogWrite(at: { runid: number; epoch: number; cap: number; history: number; channel: number }, newer: string, after = ''): string {
  return `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local t = ARGV[2]
local pos = redis.call('HMGET', KEYS[3], 'epoch', 'offset', 'runid')
local epoch, offset = pos[1], tonumber(pos[2] or '0')
if not epoch or pos[3] ~= ARGV[${at.runid}] then
  epoch = ARGV[${at.epoch}]
  offset = 0
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'offset', 0, 'runid', ARGV[${at.runid}])
end
local old = redis.call('ZRANGE', KEYS[2], t, t, 'BYSCORE')[1]
if old then
  if old == ARGV[3] then return {0, offset, epoch} end${newer}
  redis.call('ZREMRANGEBYSCORE', KEYS[2], t, t)
end
redis.call('ZADD', KEYS[2], t, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[${at.cap}]) + 1))
offset = redis.call('HINCRBY', KEYS[3], 'offset', 1)
local now = redis.call('TIME')
local at = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('RPUSH', KEYS[4], offset .. ' ' .. at .. ' ' .. ARGV[3])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[${at.history}]), -1)
redis.call('PUBLISH', ARGV[${at.channel}], epoch .. ' ' .. offset .. ' ' .. ARGV[3])${after}
return {1, offset, epoch}`;
}

/**
 * Every write the leader makes. KEYS: lease, candles, pos, hist. ARGV: token, openTime, member,
 * closed (0/1), volume, bufferSize, historyCap, runid, newEpoch, channel.
 * Returns {-1} when the lease no longer holds `token` (fenced: the caller steps down), {0, offset,
 * epoch} when the update is not newer than the stored version of that bar (dropped: nothing written,
 * nothing published), {1, offset, epoch} when written and published.
 * A bar's version: a closed bar beats a forming one; between two of the same kind, more volume is
 * newer (volume only grows while a bar forms). The same values again are a duplicate.
 * The position lives with the Redis instance's run_id: a Redis that restarted (and may have lost
 * updates) gets a new epoch with offsets from 1, never reused offsets under the old epoch.
 */
export const WRITE_LUA = fencedLogWrite({ runid: 8, epoch: 9, cap: 6, history: 7, channel: 10 }, `
  local o = cjson.decode(old)
  local closed, vol = tonumber(ARGV[4]), tonumber(ARGV[5])
  if o[7] == 1 and closed == 0 then return {0, offset, epoch} end
  if o[7] == closed and vol < o[6] then return {0, offset, epoch} end`);

/**
 * A series' snapshot, position and kept history in one atomic read. KEYS: candles, pos, hist.
 * ARGV: n (newest bars). Returns {epoch or '', offset, #bars, bar member…, history entry…}.
 */
export const SNAPSHOT_LUA = `
local pos = redis.call('HMGET', KEYS[2], 'epoch', 'offset')
local bars = redis.call('ZRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local out = {pos[1] or '', tonumber(pos[2] or '0'), #bars}
for i = 1, #bars do out[#out + 1] = bars[i] end
local hist = redis.call('LRANGE', KEYS[3], 0, -1)
for i = 1, #hist do out[#out + 1] = hist[i] end
return out`;

/**
 * The updates after `since` from the series' history. KEYS: pos, hist. ARGV: epoch, since, maxAgeMs.
 * Returns {-1} for another epoch, {-2} when the history no longer reaches back to since + 1 (trimmed,
 * or older than maxAgeMs), else {offset, entry…} with entries `offset at member`, oldest first.
 */
export const HISTORY_LUA = `
local pos = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
if pos[1] ~= ARGV[1] then return {-1} end
local offset, since = tonumber(pos[2] or '0'), tonumber(ARGV[2])
if since > offset then return {-2} end
if since == offset then return {offset} end
local len = redis.call('LLEN', KEYS[2])
local first = offset - len + 1
if since + 1 < first then return {-2} end
local entries = redis.call('LRANGE', KEYS[2], since + 1 - first, -1)
local now = redis.call('TIME')
local at = tonumber(string.match(entries[1], '^%d+ (%d+) '))
if at < now[1] * 1000 + math.floor(now[2] / 1000) - tonumber(ARGV[3]) then return {-2} end
local out = {offset}
for i = 1, #entries do out[#out + 1] = entries[i] end
return out`;

/** Renews the lease only while it still holds our token. KEYS: lease. ARGV: token, ttlMs. */
export const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/** Gives the lease up only if it is still ours. KEYS: lease. ARGV: token. */
export const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * The leader's write of one derived-series point: WRITE_LUA with a point's version check. KEYS:
 * lease, points, pos, hist. ARGV: token, time, member, closed (0/1), bufferSize, historyCap, runid,
 * newEpoch, channel, ttlMs. Every write keeps the instance's keys for ttlMs more: the log of an
 * instance nobody computes any more goes away on its own. The same point again (a new leader recomputing from the same bars) is a
 * duplicate: nothing written, nothing published, so a takeover's rewrite continues the offsets
 * without a repeat. A forming point never replaces a closed one; any other change replaces it (a
 * newer preview, or a closed value corrected after a gap fill). Returns as WRITE_LUA.
 */
export const POINT_WRITE_LUA = fencedLogWrite(
  { runid: 7, epoch: 8, cap: 5, history: 6, channel: 9 },
  `
  if cjson.decode(old)[2] == 1 and ARGV[4] == '0' then return {0, offset, epoch} end`,
  `
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[10]) end`,
);
