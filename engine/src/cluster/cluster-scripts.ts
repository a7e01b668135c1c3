/**
 * The cluster's Lua scripts. Each runs atomically in Redis: nothing interleaves with a write, and a
 * read sees one consistent moment of a series (bars and position together).
 */

import { freedBoundLua } from '../store/freed-bound.ts';

/**
 * First line of the scripts that keep the cluster led, honest and fed (the lease, the leader's
 * upstream state, the bar updates): Redis over its `maxmemory` (noeviction) refuses a script whose
 * first write is a denied command, and a standby never took a dead leader's lease, while clients read
 * `live` with the leader's exchange connection down (a Redis-fault review). Derived series' points
 * and a cold series' window too: without it a new point's first command (ZADD) was refused while a
 * correction's (ZREMRANGEBYSCORE) passed, so derived series froze while candles went on, and each
 * instance was failed and rewritten every 5 s for as long as it lasted (a review). What they keep is
 * capped by the engine. Redis 7's script flags: the cluster roles refuse an older Redis at start
 * (check-redis-database.ts).
 */
const ALLOW_OOM = '#!lua flags=allow-oom\n';

/**
 * The Lua function both fenced writes share: writes one update into one log. Arguments: the log's
 * candles (sorted set by time), pos and hist keys; the update's time and member (`closed`, `vol`
 * for the version check); the Redis run id, the epoch a log without one (or of another run) gets,
 * the caps, the channel and the time (ms) recorded in the history. `newer` runs with the stored
 * member `old` of the same time (not equal to the new one) and returns 0, offset, epoch to drop the
 * update; `after` runs once it is written. Returns status (1 written, 0 dropped), offset, epoch.
 * pos also keeps the newest member and its time (`nt`, `nm`; from the set itself when missing, as in
 * a log written before they were kept, or at a new epoch): an update of the newest bar, or a new bar,
 * the common cases, then needs no lookup in the set. Only this function writes a log's set, so they
 * stay its newest (a trim removes the oldest; an older bar written leaves them). Whatever stands at
 * the time of a bar newer than `nt` is removed all the same: one member per time even if something
 * else wrote the set.
 * The history is a ring in pos: update `offset` is field `offset % hk` (`hk` the cap it was written
 * with), `offset at member`; the slot of an update more than `hk` back holds a newer one. A log whose
 * pos has another cap (or none: its history was a list at `hist`, deleted then) starts a new epoch,
 * so every slot within `hk` of the offset holds its own update of this epoch (RING_READ_LUA).
 * `more` (a later update of the same log follows in this call): its writes are held, not made, and
 * the log's position is kept in Lua (`cache`) rather than read again, until the log's last update of
 * the call (or `flushAll`, at its end) makes them as one HSET of pos and, for a run of updates of the
 * newest bar, one ZADD of the last. A busy leader's call carries a few updates of each stream: made
 * one by one they were five commands each (a script call is atomic: nothing reads the log between).
 */
function logWriteFn(newer: string, after = ''): string {
  return `
-- heldBar[kc]: { time, member, volume, closed } of the update held for that set.
local cache, heldPos, heldBar = {}, {}, {}
-- One HSET of what setPos held for a log (ring slots are numbers: no name of theirs is offset, nt or nm).
local function writePos(kp, h)
  local r = h.ring
  r[#r + 1] = 'offset'
  r[#r + 1] = h.offset
  if h.nt then
    r[#r + 1] = 'nt'
    r[#r + 1] = h.nt
  end
  if h.nm then
    r[#r + 1] = 'nm'
    r[#r + 1] = h.nm
  end
  redis.call('HSET', kp, unpack(r))
end
-- Makes a log's held writes (before anything else reads or writes its keys).
local function flushLog(kc, kp)
  local b = heldBar[kc]
  if b then
    heldBar[kc] = nil
    redis.call('ZADD', kc, b[1], b[2])
  end
  local h = heldPos[kp]
  if h then
    heldPos[kp] = nil
    writePos(kp, h)
  end
  cache[kp] = nil
end
local function flushAll()
  for kc, b in pairs(heldBar) do redis.call('ZADD', kc, b[1], b[2]) end
  for kp, h in pairs(heldPos) do writePos(kp, h) end
  cache, heldPos, heldBar = {}, {}, {}
end
-- A log's pos fields after updates: its offset (\`os\`), its newest bar (\`t\`, \`nm\`; nil when the update
-- was of an older bar) and each update's slot of the ring; held (over those held before: a run of
-- updates sets offset and newest bar once, and its ring slots) or written now.
local function setPos(kp, os, t, nm, slot, entry, more)
  local h = heldPos[kp]
  if not h then h = { ring = {} } end
  h.offset = os
  if t then h.nt = t end
  if nm then h.nm = nm end
  local r = h.ring
  r[#r + 1] = slot
  r[#r + 1] = entry
  if more then heldPos[kp] = h return end
  heldPos[kp] = nil
  writePos(kp, h)
end
-- A log whose set went (see setLost below): deleted whole; begun again (under \`fresh\`) unless \`keepsLost\`.
-- Nothing of it is held or cached then: a log with a position in \`cache\` has held writes, made (and
-- its cache entry dropped) by flushLog before anything else is read.
local function loseLog(kp, kh, keepsLost, fresh, runid, keep)
  redis.call('DEL', kp, kh)
  if keepsLost then return true end
  redis.call('HSET', kp, 'epoch', fresh, 'offset', 0, 'runid', runid, 'hk', keep)
  return false
end
local function logWrite(kc, kp, kh, t, member, closed, vol, runid, fresh, cap, keep, channel, at, keepsLost, more, fi)
  local st, b = cache[kp], heldBar[kc]
  -- Another update of the newest bar, held by this call: no command but the publish. Its time is the
  -- same string (Lua's strings are interned: one comparison; another spelling of it goes the long way),
  -- and the held update's version is kept with it (\`ov\`, \`oc\`): no number is read from a string.
  if st and b and b[1] == t then
    local epoch, offset, old, ov, oc = st[1], st[2], b[2], b[3], b[4]
    if old == member then return 0, offset, epoch end${newer}
    offset = offset + 1
    local os = tostring(offset)
    if more then
      b[2], b[3], b[4] = member, vol, closed
      st[2], st[4] = offset, member
    else
      heldBar[kc], cache[kp] = nil, nil
      redis.call('ZADD', kc, t, member)
    end
    setPos(kp, os, nil, member, offset % keep, os .. ' ' .. at .. ' ' .. member, more)
    redis.call('PUBLISH', channel, epoch .. ' ' .. os .. ' ' .. member)${after}
    return 1, offset, epoch
  end
  if b or heldPos[kp] then flushLog(kc, kp) end
  local tn = tonumber(t)
  -- A batch's epochs are \`newEpoch-i\` (i the update's place), made only here, where one may be begun.
  if fi then fresh = fresh .. '-' .. fi end
  local epoch, offset, nt, old, ov, oc
  -- Set when the log begins a new epoch here: its writes are made now, its position read again next.
  local odd = false
  if st then
    epoch, offset, nt, old = st[1], st[2], st[3], st[4]
  else
    local pos = redis.call('HMGET', kp, 'epoch', 'offset', 'runid', 'nt', 'nm', 'hk')
    epoch, offset, nt, old = pos[1], tonumber(pos[2] or '0'), tonumber(pos[4]), pos[5]
    -- A position that does not read (something else wrote it: an offset not a count, an epoch not an
    -- id) starts a new epoch, as a missing one does: a non-numeric offset failed every write for good,
    -- and a 64 KB epoch went out with every update (a Redis-fault review).
    if not epoch or pos[3] ~= runid or tonumber(pos[6]) ~= keep or not offset or offset < 0 or offset % 1 ~= 0 or #epoch > 64 or string.find(epoch, '[^%w_-]') then
      -- A log gone whole (its keys deleted or evicted, the lease kept) is not begun again by a live update:
      -- edges reloaded it with that one bar and their charts kept one (a Redis-fault review). Status 3,
      -- nothing written: the leader writes its window (WINDOW_SEED_LUA), which holds this bar.
      if keepsLost and not epoch and redis.call('EXISTS', kc) == 0 then return 3, 0, '' end
      -- A new epoch: offsets from 0, no history (that of a log written before it moved into pos was a list).
      epoch, offset, nt, odd = fresh, 0, nil, true
      redis.call('DEL', kh)
      redis.call('HSET', kp, 'epoch', epoch, 'offset', 0, 'runid', runid, 'hk', keep)
    end
  end
  if not nt then
    local top = redis.call('ZRANGE', kc, -1, -1, 'WITHSCORES')
    nt, old = tonumber(top[2]), top[1]
    if nt then redis.call('HSET', kp, 'nt', top[2], 'nm', old) else redis.call('HDEL', kp, 'nt', 'nm') end
  end
  local nm = old
  local newest = not nt or tn >= nt
  -- setLost: its set gone alone (evicted or deleted, pos kept), the log lost its bars, so it is lost
  -- whole. Kept under its epoch, it went on from the one bar written next, and edges served that as
  -- the whole market, "nothing older" (an operator's review). Told by what the write reads anyway
  -- (the newest bar's removal below), or by one EXISTS for a new bar or an older one the set has none of.
  if not newest then
    old = redis.call('ZRANGE', kc, t, t, 'BYSCORE')[1]
    if not old and redis.call('EXISTS', kc) == 0 then
      if loseLog(kp, kh, keepsLost, fresh, runid, keep) then return 3, 0, '' end
      epoch, offset, nt, odd = fresh, 0, nil, true
    end
  elseif nt and tn > nt then
    old = nil
    if redis.call('EXISTS', kc) == 0 then
      if loseLog(kp, kh, keepsLost, fresh, runid, keep) then return 3, 0, '' end
      epoch, offset, nt, odd = fresh, 0, nil, true
    end
  end
  if old then
    if old == member then return 0, offset, epoch end${newer}
  end
  -- The newest bar pos names is not in the set: the set went (see setLost).
  if old or newest then
    if redis.call('ZREMRANGEBYSCORE', kc, t, t) == 0 and old and newest then
      if loseLog(kp, kh, keepsLost, fresh, runid, keep) then return 3, 0, '' end
      epoch, offset, nt, old, odd = fresh, 0, nil, nil, true
    end
  end
  more = more and not odd
  -- The newest bar replaced, with more updates of the log to come: its ZADD waits for the last of them.
  if more and old and newest then heldBar[kc] = { t, member, vol, closed }
  else
    redis.call('ZADD', kc, t, member)
    -- Only a new bar grows the set (a replaced one keeps its size): trim then.
    if not old then redis.call('ZREMRANGEBYRANK', kc, 0, -(cap + 1)) end
  end
  offset = offset + 1
  -- Formatted once: a number in a concatenation or a command's argument is a printf each time.
  local os = tostring(offset)
  -- The history entry goes in its slot of the ring, over the one \`keep\` updates older.
  local entry = os .. ' ' .. at .. ' ' .. member
  if newest then
    setPos(kp, os, t, member, offset % keep, entry, more)
    nt, nm = tn, member
  else setPos(kp, os, nil, nil, offset % keep, entry, more) end
  redis.call('PUBLISH', channel, epoch .. ' ' .. os .. ' ' .. member)${after}
  cache[kp] = more and { epoch, offset, nt, nm } or nil
  return 1, offset, epoch
end
local now = redis.call('TIME')
local at = tostring(now[1] * 1000 + math.floor(now[2] / 1000))`;
}

/**
 * Every bar write the leader makes: all the updates of one event-loop turn in one call, so one
 * round trip and one script run carry a burst (an exchange pushes every stream in the same tick).
 * KEYS: lease. ARGV: token, runid, newEpoch, bufferSize, historyCap, key prefix, then the updates as
 * one string, a line `SYMBOL:interval time closed(0/1) begins(0/1) more(0/1) volume member` each
 * (`begins` 0: a live update, which does not begin a log gone whole; `more` 1: a later line of the
 * call is of the same series: see logWriteFn; `time` in digits, or the line is malformed). One argument for the
 * whole batch: ioredis built the call by appending 8 arguments per update, a quarter of the leader's
 * busy time (a third less CPU per update in the leader's writer since, Redis's the same). The
 * series' keys are `prefix` then `candles:`, `pos:`, `hist:`, `ch:` before `SYMBOL:interval`
 * (cluster-keys.ts's seriesKeys; series ids are validated, so they hold no space or newline).
 * Returns {-1} when the lease no longer holds `token`: the whole batch is refused, nothing of it is
 * written or published (fenced: the caller steps down). Otherwise {status, offset, epoch} per
 * update, in order: 1 written and published, 0 not newer than the stored version of its bar
 * (dropped: nothing written, nothing published), 3 not written (a log gone whole, `begins` 0), -2
 * failed (the error in place of the epoch).
 * Updates apply in order, each series' offsets advancing by one per written update, each published
 * on its series' channel.
 * A bar's version: a closed bar beats a forming one; between two of the same kind, more volume is
 * newer (volume only grows while a bar forms). The same values again are a duplicate.
 * The position lives with the Redis instance's run_id: a Redis that restarted (and may have lost
 * updates) gets a new epoch with offsets from 1, never reused offsets under the old epoch (so does a
 * log whose history cap changed). A series given a new epoch here gets `newEpoch-i` (i its place in
 * the batch): each one its own.
 * Runs on a Redis past its `maxmemory` too: each series' keys are capped (BUFFER_SIZE bars, the
 * history ring) and so is the number of series; without the flag it went through or not by which
 * command came first (a new bar's trim passed, a new epoch's HSET was refused).
 */
export const WRITE_BATCH_LUA = `${ALLOW_OOM}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end${logWriteFn(`
    -- The stored version: held by this call (\`ov\`, \`oc\`), or read from the member, which ends with
    -- \`,volume,closed]\` (no JSON decode needed). Searched from near the end (a JSON number is at most
    -- 24 characters): an unanchored match tries every position.
    local v, c = ov, oc
    if not v then
      v, c = string.match(old, ',([^,]+),([01])%]$', math.max(1, #old - 30))
      if not v then v, c = string.match(old, ',([^,]+),([01])%]$') end
      v, c = tonumber(v), tonumber(c)
    end
    -- One that does not decode is replaced: kept, it failed every update of its bar (a Redis-fault review).
    if v and c == 1 and closed == 0 then return 0, offset, epoch end
    if v and c == closed and vol < v then return 0, offset, epoch end`)}
local cap, keep, prefix, body = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
-- Each series' keys, made once per call.
local keys = {}
local function update(s, t, c, b, m, v, member, i)
  -- The time is digits (the line's pattern): read as a number only where the write needs it.
  local vn = tonumber(v)
  if not vn then error('malformed update: ' .. s .. ' ' .. t .. ' ' .. v) end
  local k = keys[s]
  if not k then
    k = { prefix .. 'candles:' .. s, prefix .. 'pos:' .. s, prefix .. 'hist:' .. s, prefix .. 'ch:' .. s }
    keys[s] = k
  end
  return logWrite(k[1], k[2], k[3], t, member, c == '1' and 1 or 0, vn, ARGV[2], ARGV[3], cap, keep, k[4], at, b == '0', m == '1', i)
end
local out = {}
local i, from, n = 0, 1, #body
while from <= n do
  i = i + 1
  -- Each line read in place (anchored at \`from\`): split into lines first, each was one more string.
  local _, e, s, t, c, b, m, v, member = string.find(body, '^([^ \\n]+) (%d+) ([01]) ([01]) ([01]) ([^ \\n]+) ([^\\n]+)\\n?', from)
  local ok, st, o, ep
  if e then
    from = e + 1
    -- One update's failure (a stored member that does not decode) fails it alone, not the rest of the batch.
    ok, st, o, ep = pcall(update, s, t, c, b, m, v, member, i)
  else
    local nl = string.find(body, '\\n', from, true) or n + 1
    ok, st = false, 'malformed update: ' .. string.sub(body, from, nl - 1)
    from = nl + 1
  end
  if not ok then
    st, o, ep = -2, 0, tostring(st)
    -- Its log's position is read again (the failure may have come between its commands).
    cache = {}
  end
  out[3 * i - 2], out[3 * i - 1], out[3 * i] = st, o, ep
end
flushAll()
return out`;

/**
 * A whole window written into a log that has none yet (a cold series' first write), in one step: its
 * bars go into the set with one ZADD, and the log starts at offset 1 under a new epoch, published
 * with the newest bar; its history starts after it. Written as updates, a 1,000-bar window was 1,000 offsets, history entries and
 * publishes no edge or client needed (nobody can hold a position in a log that did not exist; an
 * edge that read it empty reloads on the new epoch), about 30 µs of Redis each. KEYS: lease, candles,
 * pos, hist. ARGV: token, runid, epoch, cap, keep, channel, then the bars as one string, a line
 * `time member` each, times strictly ascending. Returns {-1} (fenced), {1, 1, epoch}, or, when the log
 * exists (pos or bars: nothing written), {0, i…}: the places (from 1) of the bars that differ from
 * the member stored at their time or have none there, which the caller writes as updates, each checked
 * against the stored version. The rest equal what is stored: as updates they would be dropped, about
 * 30 µs of Redis each (an on-demand series asked again while Redis still keeps its log had its whole
 * window sent so; one read of the window's range tells them apart).
 */
export const WINDOW_SEED_LUA = `${ALLOW_OOM}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local cap, keep, epoch = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[3]
local args, prev, lt, lm = {}, nil, nil, nil
for line in string.gmatch(ARGV[7], '[^\\n]+') do
  local t, m = string.match(line, '^(%S+) (.+)$')
  local tn = tonumber(t)
  -- One member per time: a repeated or unordered time is the caller's error, and nothing is written.
  if not m or not tn or (prev and tn <= prev) then error('malformed window bar: ' .. line) end
  prev, lt, lm = tn, t, m
  args[#args + 1] = t
  args[#args + 1] = m
end
if not lm then return {0} end
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('ZCARD', KEYS[2]) > 0 then
  local stored = {}
  local got = redis.call('ZRANGE', KEYS[2], args[1], lt, 'BYSCORE', 'WITHSCORES')
  for i = 1, #got, 2 do stored[tonumber(got[i + 1])] = got[i] end
  local out = {0}
  for i = 1, #args, 2 do
    if stored[tonumber(args[i])] ~= args[i + 1] then out[#out + 1] = (i + 1) / 2 end
  end
  return out
end
-- In slices: Lua's stack bounds an unpack.
for i = 1, #args, 1000 do redis.call('ZADD', KEYS[2], unpack(args, i, math.min(#args, i + 999))) end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(cap + 1))
redis.call('DEL', KEYS[4])
-- No history entry for offset 1: a resume from 0 would be told \`recovered\` with the newest bar alone.
redis.call('HSET', KEYS[3], 'epoch', epoch, 'offset', '1', 'runid', ARGV[2], 'hk', keep, 'nt', lt, 'nm', lm)
redis.call('PUBLISH', ARGV[6], epoch .. ' 1 ' .. lm)
return {1, 1, epoch}`;

/**
 * Reads the history ring of a log's pos (see logWriteFn): `ring(kp, from, to, keep)` gives the entries
 * of offsets from..to in order, each the entry or false where its slot holds no entry of that offset
 * (never written in this epoch, or already overwritten). In slices (Lua's stack bounds an unpack).
 */
const RING_READ_LUA = `
local function ring(kp, from, to, keep)
  local out = {}
  local o = from
  while o <= to do
    local last = math.min(to, o + 499)
    local fields = {}
    for x = o, last do fields[#fields + 1] = x % keep end
    local got = redis.call('HMGET', kp, unpack(fields))
    for i = 1, #got do
      local e, p = got[i], (o + i - 1) .. ' '
      out[#out + 1] = e and string.sub(e, 1, #p) == p and e
    end
    o = last + 1
  end
  return out
end`;

/**
 * A series' snapshot, position and kept history in one atomic read. KEYS: candles, pos, hist.
 * ARGV: n (newest bars). Returns {epoch or '', offset, #bars, bar member…, history entry…}, the
 * history the newest run of updates the ring holds, oldest first.
 */
export const SNAPSHOT_LUA = `${RING_READ_LUA}
local pos = redis.call('HMGET', KEYS[2], 'epoch', 'offset', 'hk')
local bars = redis.call('ZRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local epoch, offset, keep = pos[1], tonumber(pos[2] or '0'), tonumber(pos[3] or '0') or 0
-- A position the writer would not take (something else wrote it: an offset not a count, an epoch not an
-- id) reads as none, as the leader's next write begins a new epoch: read as it was, a negative offset
-- and an epoch clients' resumes are refused for went out (a spec review).
if not epoch or not offset or offset < 0 or offset % 1 ~= 0 or #epoch > 64 or string.find(epoch, '[^%w_-]') then epoch, offset, keep = '', 0, 0 end
local out = {epoch, offset, #bars}
for i = 1, #bars do out[#out + 1] = bars[i] end
if keep < 1 then return out end
local hist = ring(KEYS[2], math.max(1, offset - keep + 1), offset, keep)
local first = #hist + 1
while first > 1 and hist[first - 1] do first = first - 1 end
for i = first, #hist do out[#out + 1] = hist[i] end
return out`;

/**
 * The updates after `since` from the series' history. KEYS: pos, hist. ARGV: epoch, since, maxAgeMs.
 * Returns {-1} for another epoch, {-2} when the history no longer reaches back to since + 1 (trimmed,
 * or older than maxAgeMs), else {offset, entry…} with entries `offset at member`, oldest first.
 */
export const HISTORY_LUA = `${RING_READ_LUA}
local pos = redis.call('HMGET', KEYS[1], 'epoch', 'offset', 'hk')
if pos[1] ~= ARGV[1] then return {-1} end
local offset, since, keep = tonumber(pos[2] or '0') or 0, tonumber(ARGV[2]), tonumber(pos[3] or '0') or 0
if since > offset then return {-2} end
if since == offset then return {offset} end
if keep < 1 or since + 1 < offset - keep + 1 then return {-2} end
local entries = ring(KEYS[1], since + 1, offset, keep)
for i = 1, #entries do if not entries[i] then return {-2} end end
local now = redis.call('TIME')
local at = tonumber(string.match(entries[1], '^%d+ (%d+) '))
if not at or at < now[1] * 1000 + math.floor(now[2] / 1000) - tonumber(ARGV[3]) then return {-2} end
local out = {offset}
for i = 1, #entries do out[#out + 1] = entries[i] end
return out`;

/**
 * A log's keys (candles, pos, hist) set to expire in ttlMs when its leader frees it (a derived-series
 * instance nobody computes: Redis must not keep every one ever asked for), or kept (ttlMs 0). Fenced
 * like a write: only the lease's holder changes them (a node that stepped down and frees later must not
 * expire what the new leader serves). KEYS: lease, the log's keys. ARGV: token, ttlMs. Returns -1 when
 * fenced, else 1.
 */
export const SERIES_EXPIRY_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local ttl = tonumber(ARGV[2])
for i = 2, #KEYS do
  if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) else redis.call('PERSIST', KEYS[i]) end
end
return 1`;

/**
 * A bar series freed (ttlMs > 0) or held again (0) by the leader, fenced as above, with the cluster's
 * count of freed series kept in Redis (a sorted set scored by when each was freed), so the bound holds
 * across leaders and restarts: an on-demand series nobody watches keeps its keys for ttlMs (a client
 * back within it resumes), but at most `max` freed series are kept; freeing one more drops the oldest
 * one's keys now. A series in the set whose candles are kept for good again (held since, by a leader
 * whose keep has not reached the set) is forgotten, not dropped. The dropped series' key names are made
 * here from their members as seriesKeys makes them (a member is a validated SeriesId key): a
 * single-instance Redis, as the cluster's is. The kept set names every series kept and not freed since
 * (a new leader frees those nobody wants: let go while no node led, they stayed for good). KEYS:
 * lease, freed set, candles, pos, hist, kept set. ARGV: token, ttlMs, member, max, keyPrefix. Returns
 * -1 when fenced, else the number of series dropped.
 */
export const SERIES_FREE_LUA = keepOrFreeLua({ persist: true, kinds: ['candles:', 'pos:', 'hist:'] });

/**
 * The shape both scripts share (KEYS: lease, freed set, the log's three keys, kept set; ARGV: token,
 * ttlMs, member, max, keyPrefix): fenced; `ttlMs` 0 keeps the log (for good when `persist`: a
 * derived-series log's own writes keep it a day) and names it in the kept set; otherwise it expires,
 * leaves the kept set and is counted among the freed (freedBoundLua).
 */
function keepOrFreeLua(o: { persist: boolean; kinds: readonly string[]; keptFor?: 'ever' | 'longer' }): string {
  return `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local ttl = tonumber(ARGV[2])
if ttl == 0 then${o.persist ? `
  for i = 3, 5 do redis.call('PERSIST', KEYS[i]) end` : ''}
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('SADD', KEYS[6], ARGV[3])
  return 0
end
redis.call('SREM', KEYS[6], ARGV[3])
for i = 3, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
${freedBoundLua({ set: 'KEYS[2]', candles: 'KEYS[3]', member: 'ARGV[3]', ttl: 'ttl', max: 'ARGV[4]', prefix: 'ARGV[5]', kinds: o.kinds, keptFor: o.keptFor })}`;
}

/**
 * A derived-series instance's log freed by the leader (no edge holds it), fenced, with the cluster's
 * count of freed logs, as SERIES_FREE_LUA does for bar series: it expires in ttlMs, and at most `max`
 * freed logs are kept; freeing one more drops the oldest now. The expiry alone bounded how long, not
 * how many: new instances at one address's ration left ~1,200 logs of ~300 KB each in Redis within
 * the 10 minutes (an attacker-style probe's estimate; it measured Redis at 2.9 → 288 MB over a few
 * minutes of bursts). A log written since it was freed (held again: every write keeps it a day) is
 * forgotten, not dropped. `ttlMs` 0: the log is held (its writes keep it), named in the kept set as
 * SERIES_FREE_LUA names bar series. KEYS: lease, freed set, points, spos, shist, kept set. ARGV: token,
 * ttlMs, member (`label|SYMBOL:interval`), max, keyPrefix. Returns -1 when fenced, else the number of
 * logs dropped.
 */
export const INSTANCE_FREE_LUA = keepOrFreeLua({ persist: false, kinds: ['points:', 'spos:', 'shist:'], keptFor: 'longer' });

/**
 * Takes the lease if nobody holds it, and numbers the term above the highest this node has seen
 * (`floor`): the term key may have been lost with Redis's data, and INCR alone would then count from
 * 1 again. KEYS: lease, term. ARGV: token, ttlMs, floor. Returns {1, term} when taken, else {0, the
 * current term (0 if none)}: a standby so learns the terms it did not lead. A term number is so above
 * every one its node saw, not every one ever used (a node started after the loss knows none): terms
 * are for /health and logs; what tells one term from another in the code is its lease token.
 */
export const ACQUIRE_LUA = `${ALLOW_OOM}-- Nodes take the lease as a string with an expiry (SET PX): a key of another type, or one without
-- an expiry, is none a node took: nobody's. Kept, the cluster had no leader for as long as it stood
-- (with an expiry, until it lapsed), and no node said why (a Redis-fault review).
local ty = redis.call('TYPE', KEYS[1]).ok
if ty ~= 'none' and (ty ~= 'string' or redis.call('PTTL', KEYS[1]) == -1) then redis.call('DEL', KEYS[1]) end
-- The term as a count, or none (another type, or not a count: INCR and GET failed every try on it).
local function stored()
  if redis.call('TYPE', KEYS[2]).ok ~= 'string' then return nil end
  local n = tonumber(redis.call('GET', KEYS[2]))
  if n and n >= 0 and n % 1 == 0 then return n end
end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  local term = math.max((stored() or 0) + 1, tonumber(ARGV[3]) + 1)
  redis.call('SET', KEYS[2], string.format('%d', term))
  return {1, term}
end
return {0, stored() or 0}`;

/**
 * Renews the lease only while it still holds our token. KEYS: lease. ARGV: token, ttlMs. Returns 1, 0
 * (another's), -1 (no lease: Redis lost it) or -2 (a key of another type: no node's, see ACQUIRE_LUA;
 * GET failed on it with WRONGTYPE, which the leader read as Redis unreachable).
 */
export const RENEW_LUA = `${ALLOW_OOM}local ty = redis.call('TYPE', KEYS[1]).ok
if ty == 'none' then return -1 end
if ty ~= 'string' then return -2 end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * The leader's upstream state (`live`, `stale`, `reconnecting`) for edges' clients, and the series
 * whose own stream is silent or whose connection is down (space-separated `state:key`; none: the key
 * is deleted), written only while the lease holds our token (a stale leader's word is not the
 * cluster's). KEYS: lease, upstream, series status. ARGV: token, state, ttlMs, series status.
 * Returns 1, or 0 (not ours: nothing written).
 */
export const UPSTREAM_SET_LUA = `${ALLOW_OOM}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if ARGV[4] == '' then redis.call('DEL', KEYS[3]) else redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3]) end
return 1`;

/**
 * An ingest node's upstream state, stamped with Redis's clock (the nodes' clocks may differ), and the
 * other nodes whose upstream is live and was said so within `freshMs`. Fields older than a minute
 * (nodes gone) are removed on the way. KEYS: the hash, the lease. ARGV: node, state, freshMs. Returns
 * whether a node leads (1 or 0), then those other nodes, `node stamp` each (the stamp in Redis's ms:
 * one that does not move is a node gone).
 */
export const INGEST_UPSTREAM_LUA = `${ALLOW_OOM}local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. now)
redis.call('PEXPIRE', KEYS[1], 60000)
local fresh = tonumber(ARGV[3])
local live = { redis.call('EXISTS', KEYS[2]) }
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local node, v = all[i], all[i + 1]
  local state, at = string.match(v, '^(%a+) (%d+)$')
  at = tonumber(at)
  if not at or now - at > 60000 then
    redis.call('HDEL', KEYS[1], node)
  elseif node ~= ARGV[1] and state == 'live' and now - at <= fresh then
    live[#live + 1] = node .. ' ' .. at
  end
end
return live`;

/** Gives the lease up only if it is still ours. KEYS: lease. ARGV: token. */
export const RELEASE_LUA = `${ALLOW_OOM}if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A point's version check (see logWriteFn's \`newer\`): a forming point never replaces a closed one. A
 * stored member that does not decode is replaced: kept, its instance froze, rewritten every 5 s for
 * good (a Redis-fault review: one garbage member at the forming point's time).
 */
const POINT_NEWER = `
    local decoded, stored = pcall(cjson.decode, old)
    if decoded and type(stored) == 'table' and stored[2] == 1 and closed == 0 then return 0, offset, epoch end`;

/**
 * The leader's write of one derived-series point: the bars' log write with a point's version check. KEYS:
 * lease, points, pos, hist. ARGV: token, time, member, closed (0/1), bufferSize, historyCap, runid,
 * newEpoch, channel, ttlMs. Every write keeps the instance's keys for ttlMs more: the log of an
 * instance nobody computes any more goes away on its own. The same point again (a new leader
 * recomputing from the same bars) is a duplicate: nothing written, nothing published, so a
 * takeover's rewrite continues the offsets without a repeat. A forming point never replaces a closed
 * one; any other change replaces it (a newer preview, or a closed value corrected after a gap fill).
 * Returns {-1} (fenced) or {status, offset, epoch}.
 */
export const POINT_WRITE_LUA = `${ALLOW_OOM}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end${logWriteFn(
  POINT_NEWER,
  `
  for _, k in ipairs({ kc, kp, kh }) do redis.call('PEXPIRE', k, ARGV[10]) end`,
)}
local s, o, e = logWrite(KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3], tonumber(ARGV[4]), 0, ARGV[7], ARGV[8], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[9], at)
return {s, o, e}`;

/**
 * Many points of one instance's log in one call (a seed writes its window: one call per point was
 * thousands of script calls per new instance, and starved the leader's lease renewal). The same
 * fencing, version check and publish per point as POINT_WRITE_LUA; the keys' expiry is set once.
 * KEYS: lease, points, pos, hist. ARGV: token, bufferSize, historyCap, runid, newEpoch, channel,
 * ttlMs, then the points as one string, a line `time closed(0/1) member` each (a member is JSON: no
 * newline). Returns {-1} (fenced: nothing written) or {status, offset, epoch} per point, in order
 * (status -2: that point failed, the error in place of the epoch).
 */
export const POINT_BATCH_LUA = `${ALLOW_OOM}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end${logWriteFn(POINT_NEWER)}
local out = {}
for line in string.gmatch(ARGV[8], '[^\\n]+') do
  local ok, st, o, e = pcall(function()
    local t, c, member = string.match(line, '^(%S+) ([01]) (.+)$')
    if not member or not tonumber(t) then error('malformed point: ' .. line) end
    return logWrite(KEYS[2], KEYS[3], KEYS[4], t, member, tonumber(c), 0, ARGV[4], ARGV[5], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[6], at)
  end)
  if not ok then st, o, e = -2, 0, tostring(st) end
  out[#out + 1] = st
  out[#out + 1] = o
  out[#out + 1] = e
end
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[7]) end
return out`;

/**
 * A token bucket in Redis, shared by every edge (one client address's budget for the whole cluster,
 * not one per edge behind the load balancer). KEYS: the bucket. ARGV: tokens per minute, burst.
 * Takes one token: returns 0, or the seconds until one is there (nothing taken). Redis's clock, so
 * edges' clocks do not matter; the key expires once the bucket would be full again. ARGV[3]: tokens
 * to take at once (default 1), all or none.
 */
export const RATE_TAKE_LUA = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local perMs, burst = tonumber(ARGV[1]) / 60000, tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if b[1] then tokens = math.min(burst, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) * perMs) end
local n = tonumber(ARGV[3] or '1')
local wait = 0
if tokens >= n then tokens = tokens - n else wait = math.max(1, math.ceil((n - tokens) / perMs / 1000)) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / perMs) + 1000)
return wait`;


/**
 * The exchange's connection attempts per IP (Binance: 300 per 5 minutes), counted for every ingest
 * node of the cluster at once (each dials the exchange, the standbys too): a sliding window of the
 * attempts, a sorted set scored by Redis's clock (the nodes' clocks do not matter), and a hold (a key
 * with a TTL) that one node's refusal with a Retry-After sets for all (CONNECT_HOLD_LUA). KEYS: the
 * attempts, the hold. ARGV: the attempts this dial may count on in the window (a first dial leaves the
 * re-dials' reserve), windowMs, a member naming this attempt. Returns {0, 0} when the attempt is taken,
 * {ms, 1} while held, or {ms, 0}: the window is full for ms more (nothing taken). Allowed over
 * `maxmemory`: bounded by the window's size, and a node that cannot dial cannot feed the cluster.
 */
export const CONNECT_TAKE_LUA = `${ALLOW_OOM}local held = redis.call('PTTL', KEYS[2])
if held > 0 then return {held, 1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < max then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {0, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], n - max, n - max, 'WITHSCORES')
return {math.max(1, tonumber(oldest[2]) + window - now + 10), 0}`;

/** Holds every ingest node's dials for ms (or longer, if already held longer): the exchange's Retry-After. KEYS: the hold. ARGV: ms. */
export const CONNECT_HOLD_LUA = `${ALLOW_OOM}local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1`;


/**
 * One edge's count of open connections from one client address, in a hash of every edge's (field: the
 * edge's NODE_ID, value: its count), so a per-address cap holds for the cluster, not per edge. An edge
 * counts while its heartbeat key (the prefix + NODE_ID, set here and every few seconds, expiring in
 * staleMs) lives: the fields of an edge that died are not counted, and are removed. With limit > 0 the
 * count is set only if every other live edge's plus it fits (returns 1, else 0); with limit 0 it is set
 * (0 removes it). KEYS: the address's hash. ARGV: node, count, limit, heartbeat prefix, staleMs, hashTtlMs.
 */
export const CONNECTIONS_SET_LUA = `
local count = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('SET', ARGV[4] .. ARGV[1], 1, 'PX', ARGV[5])
if limit > 0 then
  local others = 0
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if all[i] ~= ARGV[1] then
      if redis.call('EXISTS', ARGV[4] .. all[i]) == 1 then others = others + (tonumber(all[i + 1]) or 0) else redis.call('HDEL', KEYS[1], all[i]) end
    end
  end
  if others + count > limit then return 0 end
end
if count > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], count)
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1`;

/**
 * One edge's holds of parameter variants of one derived-series definition on one series from one
 * client address, in a hash of every edge's (field: edge|label, value: this edge's sockets holding that
 * label), so MAX_VARIANTS_PER_ADDRESS holds for the cluster, not per edge. Each call carries the edge's
 * whole set for the hash and replaces its fields (a lost call, or fields lost with Redis or removed while
 * the edge's heartbeat lapsed, are put right by its next call or renewal). Live edges count as in
 * CONNECTIONS_SET_LUA (the same heartbeat keys); a dead edge's fields are removed. With limit > 0 the
 * set is written only if the distinct labels of every live edge, with it, fit (returns 1, else 0);
 * with limit 0 it is written. KEYS: the hash. ARGV: edge, limit, heartbeat prefix, staleMs, hashTtlMs,
 * then label and count (> 0) pairs. An edge's id has no `|`; a label may.
 */
export const VARIANTS_SET_LUA = `
local node = ARGV[1]
local limit = tonumber(ARGV[2])
redis.call('SET', ARGV[3] .. node, 1, 'PX', ARGV[4])
local labels = {}
local n = 0
for j = 6, #ARGV, 2 do
  if not labels[ARGV[j]] then
    labels[ARGV[j]] = true
    n = n + 1
  end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local sep = string.find(all[i], '|', 1, true)
  local owner = sep and string.sub(all[i], 1, sep - 1) or ''
  if owner ~= node and owner ~= '' and redis.call('EXISTS', ARGV[3] .. owner) == 1 then
    local label = string.sub(all[i], sep + 1)
    if not labels[label] and (tonumber(all[i + 1]) or 0) > 0 then
      labels[label] = true
      n = n + 1
    end
  elseif owner ~= node then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if limit > 0 and n > limit then return 0 end
for i = 1, #all, 2 do
  local sep = string.find(all[i], '|', 1, true)
  if sep and string.sub(all[i], 1, sep - 1) == node then redis.call('HDEL', KEYS[1], all[i]) end
end
for j = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], node .. '|' .. ARGV[j], ARGV[j + 1]) end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 1`;
