"""The Lua scripts of RedisState. Each touches the keys of one shard (one hash slot) only,
as Redis Cluster requires; bot/store/redis_keys.py says which."""

# KEYS: inbox, pending, joined, dedup...
# ARGV: job, session_id, now, dedup ttl, joined ttl, job kind (only turns join a thread),
#       the message's time if it is replayed from the durable inbox, else '',
#       the most jobs the inbox may hold (0 or missing: no cap)
# A replayed job goes before the queued jobs of later messages: answered in Slack's order.
# Returns 1 queued, 0 duplicate, 2 refused (the inbox is full; deduped all the same).
ACCEPT = """
for i = 4, #KEYS do
  if redis.call('exists', KEYS[i]) == 1 then return 0 end
end
for i = 4, #KEYS do redis.call('set', KEYS[i], '1', 'EX', ARGV[4]) end
local cap = tonumber(ARGV[8] or '') or 0
if cap > 0 and redis.call('llen', KEYS[1]) >= cap then return 2 end
local placed = false
if ARGV[7] ~= '' then
  for _, queued in ipairs(redis.call('lrange', KEYS[1], 0, -1)) do
    local at = tonumber(string.match(cjson.decode(queued).ts, '%d%d%d%d%d%d%d%d%d+%.?%d*') or '')
    if at and at > tonumber(ARGV[7]) then
      redis.call('linsert', KEYS[1], 'BEFORE', queued, ARGV[1])
      placed = true
      break
    end
  end
end
if not placed then redis.call('rpush', KEYS[1], ARGV[1]) end
redis.call('zadd', KEYS[2], 'NX', ARGV[3], ARGV[2])
if ARGV[6] == 'turn' then redis.call('set', KEYS[3], '1', 'EX', ARGV[5]) end
return 1
"""
# KEYS: a shard's epoch, replaying, replayed, since  ARGV: epoch id, pause seconds, now.
# The one caller that finds the shard without its epoch replays the durable inbox; the
# shard's turns wait until it is done. If that caller dies mid-replay, its pause expires and
# the next caller replays instead. `since` says from when the shard's data is continuous:
# now, for a new epoch; for an epoch older than the marker (a deploy), from now on.
CLAIM_EPOCH = """
if redis.call('set', KEYS[1], ARGV[1], 'NX') then
  redis.call('set', KEYS[4], ARGV[3])
  redis.call('set', KEYS[2], '1', 'EX', ARGV[2])
  return 1
end
redis.call('set', KEYS[4], ARGV[3], 'NX')
if redis.call('exists', KEYS[3]) == 0 and redis.call('exists', KEYS[2]) == 0 then
  redis.call('set', KEYS[2], '1', 'EX', ARGV[2])
  return 1
end
return 0
"""
# KEYS: lock, inbox, pending  ARGV: token, session_id
RELEASE_IF_IDLE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('llen', KEYS[2]) > 0 then return 0 end
redis.call('del', KEYS[1])
redis.call('zrem', KEYS[3], ARGV[2])
return 1
"""
# KEYS: lock  ARGV: token, ttl ms. Extends our lock; if Redis lost it (a restart without
# persistence) and nobody else took it, takes it back rather than abandoning the turn.
RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if holder then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: lock, inbox  ARGV: token, consumed jobs... Removes exactly the jobs that were
# handled, wherever they are: if Redis lost the inbox meanwhile, newer jobs are not the
# ones we answered; and a message held during an outage (bot/intake/outage.py) or replayed may
# have been inserted ahead of them by message time while the turn ran.
FINISH = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 2, #ARGV do redis.call('lrem', KEYS[2], 1, ARGV[i]) end
return 1
"""
