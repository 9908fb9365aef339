"""The Lua scripts behind each operation. Each is atomic and idempotent under retry.

Hash fields: ``.<key>`` holds one top-level session value; metadata fields start with ``@``:
``@c`` created (ms), ``@v`` version, ``@x`` absolute expiry (ms), ``@t`` last touch (ms),
``@u`` user id (encoded like a value), ``@r`` id of the last request that wrote.

A destroyed session's key becomes its tombstone: the hash is replaced by ``{"@d": 1}`` for
``tombstone_ttl``. Keeping it in the same key keeps load, save and destroy single-key, so
they work in a Cluster slot that is being migrated (multi-key commands get ``TRYAGAIN``).

Why each script is safe to resend after an unknown outcome:

- ``SAVE`` and ``CYCLE`` first look for their own request id in ``@r``: found means
  "already applied", so a retry returns the first answer instead of applying twice.
- ``SAVE`` never creates a hash in update mode, and nothing writes past a tombstone (``@d``),
  so an in-flight request can neither resurrect a destroyed session nor an expired one.
- Expiry is always an absolute ``PEXPIREAT``, so a late retry cannot stretch a lifetime.
- ``DESTROY`` and the index scripts are idempotent by nature.
"""

from __future__ import annotations

from ._commands import Script

__all__ = ["CANARY", "CYCLE", "DESTROY", "INDEX_ADD", "LOAD", "LOAD_FENCED", "SAVE"]

# Shared helpers, prepended to the scripts that write session data.
# apply(): ARGV[at] = number of fields to set, then field/value pairs, then the number of
# fields to delete, then their names. Returns how many fields it changed.
# finish(): stamps request id and touch time, bumps the version when data changed (else returns
# ``v``, the version read before), and sets the TTL to min(now + idle, ``x`` the absolute expiry).
# Both scripts read ``@v`` and ``@x`` before they write: finish() is handed them, not reading again.
_PRELUDE = """
local function apply(key, argv, at)
  local nset = tonumber(argv[at])
  local i = at + 1
  for _ = 1, nset do
    redis.call('HSET', key, argv[i], argv[i + 1])
    i = i + 2
  end
  local ndel = tonumber(argv[i])
  i = i + 1
  for _ = 1, ndel do
    redis.call('HDEL', key, argv[i])
    i = i + 1
  end
  return nset + ndel
end

local function finish(key, rid, now, idle, changed, v, x)
  if changed then
    v = redis.call('HINCRBY', key, '@v', 1)
  end
  redis.call('HSET', key, '@r', rid, '@t', now)
  local exp = now + idle
  if x < exp then exp = x end
  redis.call('PEXPIREAT', key, exp)
  return v
end
"""

LOAD = Script(
    "load",
    """
-- KEYS: data. ARGV: now_ms, idle_ms, touch_interval_ms. Returns the hash, or false.
-- A key of another type (written by someone else) comes back as {'@!', error}: a damaged session.
local h = redis.pcall('HGETALL', KEYS[1])
if h['err'] then return {'@!', h['err']} end
if #h == 0 then return false end
local now = tonumber(ARGV[1])
local t, x
for i = 1, #h, 2 do
  if h[i] == '@t' then t = tonumber(h[i + 1]) elseif h[i] == '@x' then x = tonumber(h[i + 1]) end
end
if x == nil or x <= now then return false end
if t == nil or now - t >= tonumber(ARGV[3]) then
  local exp = now + tonumber(ARGV[2])
  if x < exp then exp = x end
  redis.call('HSET', KEYS[1], '@t', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], exp)
end
return h
""",
)

# In ``replicated`` durability a load must not read a stale master: one cut off from its replicas by
# a partition, or demoted by a failover it has not heard of yet. A script with a shebang and without
# the ``no-writes`` flag may write, so Redis (7.0+) checks ``min-replicas-to-write`` before it runs and
# answers ``NOREPLICAS`` there: the load is retried after asking Sentinel again, never served stale.
LOAD_FENCED = Script("load_fenced", "#!lua\n" + LOAD.source.lstrip("\n"))

SAVE = Script(
    "save",
    _PRELUDE
    + """
-- KEYS: data. ARGV: mode ('c' create | 'u' update), request id, now_ms, idle_ms,
-- absolute expiry ms (create), expected version ('' = merge mode), delta...
local key, rid, now, idle = KEYS[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local meta = redis.call('HMGET', key, '@r', '@v', '@x', '@d')
if meta[4] then return {'DESTROYED'} end
if meta[1] == rid then return {'OK', meta[2]} end
local x
if meta[2] == false then
  if ARGV[1] ~= 'c' then return {'GONE'} end
  x = tonumber(ARGV[5])
  redis.call('HSET', key, '@c', ARGV[3], '@x', ARGV[5], '@v', 0)
else
  if ARGV[1] == 'c' then return {'COLLISION'} end
  x = tonumber(meta[3])
  if x <= now then return {'GONE'} end
  if ARGV[6] ~= '' and meta[2] ~= ARGV[6] then return {'CONFLICT', meta[2]} end
end
local changed = apply(key, ARGV, 7) > 0 or ARGV[1] == 'c'
return {'OK', finish(key, rid, now, idle, changed, meta[2], x)}
""",
)

CYCLE = Script(
    "cycle",
    _PRELUDE
    + """
-- KEYS: old data, new data. ARGV: request id, now_ms, idle_ms, tombstone ttl ms,
-- expected version ('' = merge mode), delta... Copies old into new, applies the delta,
-- tombstones old: the id changes atomically, inside one slot.
local rid, now, idle = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local done = redis.call('HMGET', KEYS[2], '@r', '@v', '@d')
if done[1] == rid then return {'OK', done[2]} end
if done[2] ~= false or done[3] then return {'COLLISION'} end
local meta = redis.call('HMGET', KEYS[1], '@v', '@x', '@d')
if meta[3] then return {'DESTROYED'} end
if meta[1] == false or tonumber(meta[2]) <= now then return {'GONE'} end
if ARGV[5] ~= '' and meta[1] ~= ARGV[5] then return {'CONFLICT', meta[1]} end
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do redis.call('HSET', KEYS[2], h[i], h[i + 1]) end
apply(KEYS[2], ARGV, 6)
local v = finish(KEYS[2], rid, now, idle, true, nil, tonumber(meta[2]))
redis.call('UNLINK', KEYS[1])
redis.call('HSET', KEYS[1], '@d', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'OK', v}
""",
)

DESTROY = Script(
    "destroy",
    """
-- KEYS: data. ARGV: tombstone ttl ms. Turns the session into its tombstone; returns 1 if a
-- live session was destroyed.
local live = redis.call('HEXISTS', KEYS[1], '@x')
redis.call('UNLINK', KEYS[1])
redis.call('HSET', KEYS[1], '@d', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return live
""",
)

INDEX_ADD = Script(
    "index_add",
    """
-- KEYS: user index. ARGV: now_ms, absolute expiry ms, public id, [public id to drop].
-- Adds a session, prunes the surely-expired ones, keeps the index alive as long as its newest.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
if ARGV[4] then redis.call('ZREM', KEYS[1], ARGV[4]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1
""",
)

CANARY = Script(
    "canary",
    """
-- KEYS: canary. ARGV: a fresh token. A store that finds its canary gone after it had seen one
-- knows Redis lost its whole dataset (docs/design.md, *What no client can repair*).
local seen = redis.call('GET', KEYS[1])
if seen then return {'same', seen} end
redis.call('SET', KEYS[1], ARGV[1])
return {'new', ARGV[1]}
""",
)
