-- Removes a key and its bytes from the namespace's total; the hash goes
-- when its last key does. (Layout: see set.lua.)
--
-- KEYS[1]: the namespace's hash. ARGV[1]: the field.
-- Returns 1 if the key existed, 0 if not.
local hash, field = KEYS[1], ARGV[1]
local value_bytes = redis.call('HSTRLEN', hash, field)
if redis.call('HDEL', hash, field) == 0 then
  return 0
end
if redis.call('HLEN', hash) == 1 then
  redis.call('DEL', hash)
else
  redis.call('HINCRBY', hash, '#', -(#field - 1 + value_bytes))
end
return 1
