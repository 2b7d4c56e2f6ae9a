"""The Lua scripts the Redis storage runs: each is one step for every client of the server.

Keys are passed as ``KEYS`` and everything else as ``ARGV``, so that Redis Cluster can route a
script to the one node its keys live on. Each script says what it takes.
"""

__all__ = [
    "CHECK_AND_LIST",
    "COMPARE_AND_SET",
    "COMPARE_AND_SET_GROUPED",
    "DRAIN_GROUPS",
    "LOOK_UP",
    "MARK_GROUPS",
    "NEW_EPOCH",
    "RELEASE_IF_OWNER",
    "TAKE_GROUPS",
    "TAKE_GROUPS_FOR_DRAINING",
]

# Write the items only while the guard (KEYS[1]) holds the expected body (after its 8-byte expiry);
# ARGV[1] is "1" when a body is expected at all. Items follow as KEYS[2..] with value and
# milliseconds in ARGV[3..]; the last two ARGV are the channel of changes and the ids to publish.
COMPARE_AND_SET = """
local current = redis.call('get', KEYS[1])
if ARGV[1] == '1' then
    if not current or string.sub(current, 9) ~= ARGV[2] then return 0 end
elseif current then
    return 0
end
for i = 2, #KEYS do
    redis.call('set', KEYS[i], ARGV[2 * i - 1], 'px', ARGV[2 * i])
end
redis.call('publish', ARGV[#ARGV - 1], ARGV[#ARGV])
return 1
"""
# compare_and_set, refused (-1) when a checked group's invalidation mark (a server time) is at or
# after ARGV[6]; on success it also lists members in groups: sorted sets scored by the server time
# until which each is listed, trimmed of those past, expiring with the longest member. A key of
# ours holding something else (written by hand) counts as empty, so it cannot stop the cache from
# storing. The guard and the marks are read with one MGET. With a lock's token in ARGV[8] (else
# ''), the lock (the last KEY) is released first, while the token owns it, whatever follows: the
# script runs as one step, so no one sees the lock gone before the items are written.
# ARGV: 1-2 as above, 3-5 how many items, lists and checked marks, 6 since, 7 how long members
# are listed (ms), 8 the lock's token or '', then each item's value and milliseconds, then each
# list's member, then the channel of changes and the ids to publish.
# KEYS: guard, items, lists, marks, and the lock when ARGV[8] is a token.
COMPARE_AND_SET_GROUPED = """
local n, l, c = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local since = tonumber(ARGV[6])
if ARGV[8] ~= '' then
    local lock = KEYS[2 + n + l + c]
    if redis.call('get', lock) == ARGV[8] then redis.call('del', lock) end
end
local read = {KEYS[1]}
for i = 2 + n + l, 1 + n + l + c do read[#read + 1] = KEYS[i] end
local values = redis.call('mget', unpack(read))
for i = 2, #values do
    local at = tonumber(values[i])
    if at and at >= since then return -1 end
end
local current = values[1]
if ARGV[1] == '1' then
    if not current or string.sub(current, 9) ~= ARGV[2] then return 0 end
elseif current then
    return 0
end
for i = 1, n do
    redis.call('set', KEYS[1 + i], ARGV[7 + 2 * i], 'px', ARGV[8 + 2 * i])
end
if l > 0 then
    local time = redis.call('time')
    local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local lifetime = tonumber(ARGV[7])
    for i = 1, l do
        local list = KEYS[1 + n + i]
        local kind = redis.call('type', list)['ok']
        if kind ~= 'zset' and kind ~= 'none' then redis.call('del', list) end
        redis.call('zadd', list, 'gt', now + lifetime, ARGV[8 + 2 * n + i])
        redis.call('zremrangebyscore', list, '-inf', '(' .. now)
        if redis.call('pttl', list) < lifetime then redis.call('pexpire', list, lifetime) end
    end
end
redis.call('publish', ARGV[#ARGV - 1], ARGV[#ARGV])
return 1
"""
# A look-up (one server): MGET the epoch and the items (KEYS but the last); when the last item is
# missing, take the lock (the last KEY: ARGV[1] its token, ARGV[2] its milliseconds) unless someone
# holds it, and read the server's time. Returns the values, then 0 (not asked), 1 (taken), 2 (held
# elsewhere) or 3 (refused: a full server), then TIME's seconds and microseconds (0 when not
# asked). The lock is asked with pcall: a server that refuses writes still answers the read.
LOOK_UP = """
local values = redis.call('mget', unpack(KEYS, 1, #KEYS - 1))
local taken, time = 0, {0, 0}
if not values[#values] then
    local reply = redis.pcall('set', KEYS[#KEYS], ARGV[1], 'nx', 'px', ARGV[2])
    if type(reply) == 'table' and reply['err'] then
        taken = 3
    elseif reply then
        taken = 1
    else
        taken = 2
    end
    time = redis.call('time')
end
values[#values + 1] = taken
values[#values + 1] = time[1]
values[#values + 1] = time[2]
return values
"""
# invalidate_groups on one server, in steps of at most a batch of members each, so that a purge of
# many responses never holds Redis for long: this marks the groups (the server's time) and moves
# each list aside to its draining key (KEYS: list, mark, draining key per group; ARGV: how long
# marks and draining lists are kept, ms), joining what a purge that failed midway left there, so
# that its retry removes it too. A key of ours holding something else (written by hand) counts
# as empty. Stores made after the purge list themselves afresh, and are kept.
TAKE_GROUPS_FOR_DRAINING = """
local time = redis.call('time')
local now = string.format('%d.%06d', time[1], time[2])
local taken = 0
for i = 1, #KEYS, 3 do
    redis.call('set', KEYS[i + 1], now, 'px', ARGV[1])
    local left_over = redis.call('type', KEYS[i + 2])['ok'] == 'zset'
    if redis.call('type', KEYS[i])['ok'] == 'zset' then
        if left_over then
            redis.call('zunionstore', KEYS[i + 2], 2, KEYS[i + 2], KEYS[i])
            redis.call('del', KEYS[i])
        else
            redis.call('rename', KEYS[i], KEYS[i + 2])
        end
        left_over = true
    end
    if left_over then
        redis.call('pexpire', KEYS[i + 2], ARGV[1])
        taken = taken + 1
    end
end
return taken
"""
# Remove at most ARGV[3] members of the draining lists (KEYS) and the items they list (under the
# prefix ARGV[1]), publishing their ids on ARGV[2]; returns {removed, members left}.
DRAIN_GROUPS = """
local budget = tonumber(ARGV[3])
local removed = 0
for i = 1, #KEYS do
    if budget <= 0 then break end
    local members = redis.call('zrange', KEYS[i], 0, budget - 1)
    if #members > 0 then
        redis.call('zrem', KEYS[i], unpack(members))
        local batch, ids = {}, {}
        for k = 1, #members do
            batch[k] = ARGV[1] .. members[k]
            ids[k] = string.sub(members[k], (string.find(members[k], ':', 1, true) or 0) + 1)
        end
        removed = removed + redis.call('del', unpack(batch))
        redis.call('publish', ARGV[2], table.concat(ids, ' '))
        budget = budget - #members
    end
end
local left = 0
for i = 1, #KEYS do
    left = left + redis.call('zcard', KEYS[i])
end
return {removed, left}
"""
# Only the invalidation marks of TAKE_GROUPS_FOR_DRAINING (KEYS: marks; ARGV: how long they are kept, ms):
# a soft purge leaves the listed responses in place, stale, and refuses what was computed before it.
MARK_GROUPS = """
local time = redis.call('time')
local now = string.format('%d.%06d', time[1], time[2])
for i = 1, #KEYS do
    redis.call('set', KEYS[i], now, 'px', ARGV[1])
end
return #KEYS
"""
# On Redis Cluster the group lists and marks live in one slot of their own ("{groups}"), away from
# the responses: a grouped store writes the response (compare-and-set) and then runs this there.
# KEYS: lists, marks. ARGV: how many lists, since, how long members are listed (ms), the members.
# -1 when a mark is at or after ``since`` (the caller removes what it wrote), else lists them.
CHECK_AND_LIST = """
local l = tonumber(ARGV[1])
local since = tonumber(ARGV[2])
for i = l + 1, #KEYS do
    local at = tonumber(redis.pcall('get', KEYS[i]))
    if at and at >= since then return -1 end
end
local time = redis.call('time')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lifetime = tonumber(ARGV[3])
for i = 1, l do
    local kind = redis.call('type', KEYS[i])['ok']
    if kind ~= 'zset' and kind ~= 'none' then redis.call('del', KEYS[i]) end
    redis.call('zadd', KEYS[i], 'gt', now + lifetime, ARGV[3 + i])
    redis.call('zremrangebyscore', KEYS[i], '-inf', '(' .. now)
    if redis.call('pttl', KEYS[i]) < lifetime then redis.call('pexpire', KEYS[i], lifetime) end
end
return 1
"""
# On Redis Cluster: mark the groups and take their lists (KEYS: list, mark pairs; ARGV: how long
# a mark is kept, ms), returning the members; the caller removes them, node by node.
TAKE_GROUPS = """
local time = redis.call('time')
local now = string.format('%d.%06d', time[1], time[2])
local members = {}
for i = 1, #KEYS, 2 do
    redis.call('set', KEYS[i + 1], now, 'px', ARGV[1])
    local listed = redis.pcall('zrange', KEYS[i], 0, -1)
    if not listed['err'] then
        for _, member in ipairs(listed) do members[#members + 1] = member end
    end
    redis.call('del', KEYS[i])
end
return members
"""
# purge_all: a new epoch (KEYS[1]; every item of the old one is unreachable from now on), and the
# removal's mark (KEYS[2]) at the server's time, so that a response computed before it is not
# stored after it. ARGV: the new epoch, how long the mark is kept (ms), the channel of changes.
NEW_EPOCH = """
local time = redis.call('time')
redis.call('set', KEYS[2], string.format('%d.%06d', time[1], time[2]), 'px', ARGV[2])
redis.call('set', KEYS[1], ARGV[1])
redis.call('publish', ARGV[3], '*')
return 1
"""
# Release the lock only while it is still ours: a lock that expired and was taken by another
# process must not be deleted by the first owner when it finally finishes.
RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
