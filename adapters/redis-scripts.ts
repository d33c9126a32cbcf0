/**
 * Lua scripts of the Redis adapter. Each runs atomically in Redis, so an item and its indexes
 * never disagree and `consume` is a true compare-and-set.
 *
 * Layout under `<keyPrefix>oidc:` (the scripts receive this as `base`):
 *   item:<Model>:<key>        hash  p = payload JSON, c = consumed (epoch s), g/u/uc = indexed grantId/uid/userCode
 *   grant:<Model>:<grantId>   zset  member = item key suffix, score = member expiry (ms; +inf without TTL);
 *                                   the set expires with its longest-lived member
 *   uid:<Model>:<uid>         string -> item key suffix (sessions)
 *   usercode:<Model>:<code>   string -> item key suffix (device codes)
 * Keys are derived inside the scripts, so Redis Cluster is not supported (standalone or Sentinel).
 */

const UNINDEX = `
local function unindex(base, model, member, g, u, uc)
  if g then redis.call('ZREM', base .. 'grant:' .. model .. ':' .. g, member) end
  if u then
    local k = base .. 'uid:' .. model .. ':' .. u
    if redis.call('GET', k) == member then redis.call('DEL', k) end
  end
  if uc then
    local k = base .. 'usercode:' .. model .. ':' .. uc
    if redis.call('GET', k) == member then redis.call('DEL', k) end
  end
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- integral milliseconds as a plain decimal string (no exponent), as ZADD and PEXPIREAT need
local function ms(x) return string.format('%.0f', x) end
`;

/**
 * KEYS[1] item. ARGV: base, model, member, payload, ttlMs (0 = none), consumed ('' = no), grantId, uid, userCode,
 * createOnly ('1' = refuse when the item exists). Replaces the item; a consumed mark survives the replace
 * (consumption is one-way). Returns 1, or 0 when a create-only write found the item present.
 */
export const UPSERT = `${UNINDEX}
local base, model, member, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local c = nil
if ARGV[10] == '1' then
  -- create-only (e.g. every issued access token): nothing to replace, so nothing to unindex
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
else
  local old = redis.call('HMGET', KEYS[1], 'c', 'g', 'u', 'uc')
  unindex(base, model, member, old[2], old[3], old[4])
  redis.call('DEL', KEYS[1])
  c = old[1]
end
local fields = {'p', ARGV[4]}
if not c and ARGV[6] ~= '' then c = ARGV[6] end
if c then table.insert(fields, 'c'); table.insert(fields, c) end
if ARGV[7] ~= '' then table.insert(fields, 'g'); table.insert(fields, ARGV[7]) end
if ARGV[8] ~= '' then table.insert(fields, 'u'); table.insert(fields, ARGV[8]) end
if ARGV[9] ~= '' then table.insert(fields, 'uc'); table.insert(fields, ARGV[9]) end
redis.call('HSET', KEYS[1], unpack(fields))
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
local function setIndex(k)
  if ttl > 0 then redis.call('SET', k, member, 'PX', ttl) else redis.call('SET', k, member) end
end
if ARGV[8] ~= '' then setIndex(base .. 'uid:' .. model .. ':' .. ARGV[8]) end
if ARGV[9] ~= '' then setIndex(base .. 'usercode:' .. model .. ':' .. ARGV[9]) end
if ARGV[7] ~= '' then
  local gk = base .. 'grant:' .. model .. ':' .. ARGV[7]
  local now = nowMs()
  if ttl > 0 then redis.call('ZADD', gk, ms(now + ttl), member) else redis.call('ZADD', gk, '+inf', member) end
  redis.call('ZREMRANGEBYSCORE', gk, '-inf', '(' .. ms(now))
  local top = redis.call('ZRANGE', gk, -1, -1, 'WITHSCORES')
  local s = top[2]
  if s == 'inf' or s == '+inf' then redis.call('PERSIST', gk) else redis.call('PEXPIREAT', gk, ms(tonumber(s))) end
end
return 1
`;

/** KEYS[1] item. Returns 1 when this call marked the live item consumed, 0 when it was absent or already consumed. */
export const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'c', redis.call('TIME')[1])
`;

/** KEYS[1] index key. ARGV[1] item key prefix. Returns {payload, consumed} of the item the index points to, or nil. */
export const FIND_BY_INDEX = `
local m = redis.call('GET', KEYS[1])
if not m then return false end
local r = redis.call('HMGET', ARGV[1] .. m, 'p', 'c')
if not r[1] then return false end
return {r[1], r[2]}
`;

/** KEYS[1] item. ARGV: base, model, member. Deletes the item and its index entries. */
export const DESTROY = `${UNINDEX}
local old = redis.call('HMGET', KEYS[1], 'g', 'u', 'uc')
unindex(ARGV[1], ARGV[2], ARGV[3], old[1], old[2], old[3])
return redis.call('DEL', KEYS[1])
`;

/** KEYS[1] grant set. ARGV: base, model, grantId. Deletes every item of this model in the grant; returns how many. */
export const REVOKE = `${UNINDEX}
local base, model = ARGV[1], ARGV[2]
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, m in ipairs(members) do
  local k = base .. 'item:' .. model .. ':' .. m
  local old = redis.call('HMGET', k, 'g', 'u', 'uc')
  if old[1] == ARGV[3] then
    unindex(base, model, m, false, old[2], old[3])
    n = n + redis.call('DEL', k)
  end
end
redis.call('DEL', KEYS[1])
return n
`;
