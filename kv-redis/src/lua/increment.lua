-- Adds to a decimal integer (0 if absent) with Redis's exact 64-bit
-- arithmetic (HINCRBY: a Lua number is a double and would round), unless
-- the result takes the namespace over its quota, in which case the old value
-- is put back before anyone can see the new one. (Layout: see set.lua.)
--
-- KEYS[1]: the namespace's hash. ARGV: the field, the delta, max_keys,
-- max_bytes.
-- Returns {'ok', the new value as text}, {'quota'}, or {'invalid', Redis's
-- reason} (not an integer, or an overflow).
local hash, field = KEYS[1], ARGV[1]
local key_bytes = #field - 1
local old = redis.call('HGET', hash, field)
local total = redis.call('HGET', hash, '#')
local added = redis.pcall('HINCRBY', hash, field, ARGV[2])
if type(added) == 'table' and added.err then
  return {'invalid', added.err}
end
local value = redis.call('HGET', hash, field)
local keys = redis.call('HLEN', hash)
local bytes = key_bytes + #value
if total then
  keys = keys - 1
  bytes = bytes + tonumber(total)
end
if old then
  bytes = bytes - key_bytes - #old
end
if keys > tonumber(ARGV[3]) or bytes > tonumber(ARGV[4]) then
  if old then
    redis.call('HSET', hash, field, old)
  else
    redis.call('HDEL', hash, field)
  end
  return {'quota'}
end
redis.call('HSET', hash, '#', string.format('%d', bytes))
return {'ok', value}
