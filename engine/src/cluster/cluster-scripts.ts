/**
 * The cluster's Lua scripts. Each runs atomically in Redis: nothing interleaves with a write, and a
 * read sees one consistent moment of a series (bars and position together).
 */

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
export const WRITE_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local t = ARGV[2]
local pos = redis.call('HMGET', KEYS[3], 'epoch', 'offset', 'runid')
local epoch, offset = pos[1], tonumber(pos[2] or '0')
if not epoch or pos[3] ~= ARGV[8] then
  epoch = ARGV[9]
  offset = 0
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'offset', 0, 'runid', ARGV[8])
end
local old = redis.call('ZRANGE', KEYS[2], t, t, 'BYSCORE')[1]
if old then
  if old == ARGV[3] then return {0, offset, epoch} end
  local o = cjson.decode(old)
  local closed, vol = tonumber(ARGV[4]), tonumber(ARGV[5])
  if o[7] == 1 and closed == 0 then return {0, offset, epoch} end
  if o[7] == closed and vol < o[6] then return {0, offset, epoch} end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], t, t)
end
redis.call('ZADD', KEYS[2], t, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[6]) + 1))
offset = redis.call('HINCRBY', KEYS[3], 'offset', 1)
local now = redis.call('TIME')
local at = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('RPUSH', KEYS[4], offset .. ' ' .. at .. ' ' .. ARGV[3])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[7]), -1)
redis.call('PUBLISH', ARGV[10], epoch .. ' ' .. offset .. ' ' .. ARGV[3])
return {1, offset, epoch}`;

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
export const POINT_WRITE_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local t = ARGV[2]
local pos = redis.call('HMGET', KEYS[3], 'epoch', 'offset', 'runid')
local epoch, offset = pos[1], tonumber(pos[2] or '0')
if not epoch or pos[3] ~= ARGV[7] then
  epoch = ARGV[8]
  offset = 0
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'offset', 0, 'runid', ARGV[7])
end
local old = redis.call('ZRANGE', KEYS[2], t, t, 'BYSCORE')[1]
if old then
  if old == ARGV[3] then return {0, offset, epoch} end
  if cjson.decode(old)[2] == 1 and ARGV[4] == '0' then return {0, offset, epoch} end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], t, t)
end
redis.call('ZADD', KEYS[2], t, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
offset = redis.call('HINCRBY', KEYS[3], 'offset', 1)
local now = redis.call('TIME')
local at = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('RPUSH', KEYS[4], offset .. ' ' .. at .. ' ' .. ARGV[3])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[6]), -1)
redis.call('PUBLISH', ARGV[9], epoch .. ' ' .. offset .. ' ' .. ARGV[3])
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[10]) end
return {1, offset, epoch}`;
