-- Stores a value unless that takes the namespace over its quota. Redis runs
-- a script alone: no other client's write comes between the count and the
-- write, so concurrent hosts cannot overshoot the quota together.
--
-- KEYS[1]: the namespace's hash. Its fields are 'k' .. key for each key and
-- '#' for the namespace's total of key and value bytes; it exists only while
-- it holds a key.
-- ARGV: the field, the value, max_keys, max_bytes.
-- Returns 1 if stored, 0 if that would exceed the quota.
local hash, field, value = KEYS[1], ARGV[1], ARGV[2]
local key_bytes = #field - 1
local keys, bytes = 0, 0
local total = redis.call('HGET', hash, '#')
if total then
  keys = redis.call('HLEN', hash) - 1
  bytes = tonumber(total)
end
if redis.call('HEXISTS', hash, field) == 1 then
  bytes = bytes - key_bytes - redis.call('HSTRLEN', hash, field)
else
  keys = keys + 1
end
bytes = bytes + key_bytes + #value
if keys > tonumber(ARGV[3]) or bytes > tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', hash, field, value, '#', string.format('%d', bytes))
return 1
