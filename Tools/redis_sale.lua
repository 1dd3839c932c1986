-- A durable sale in Redis, the counterpart of stockd's `SELL sku= wh= qty=` in Tools/bench.sh:
-- KEYS[1] is the stock hash of one (sku, warehouse) pair, KEYS[2] the event stream; ARGV[1] the
-- quantity. Refuses when the pair's `available` field is below it; otherwise decrements it and
-- appends a `sold` event to the stream. Returns the new available, or an INSUFFICIENT error.
local qty = tonumber(ARGV[1])
local available = tonumber(redis.call('HGET', KEYS[1], 'available') or '0')
if available < qty then
  return redis.error_reply('INSUFFICIENT available=' .. available .. ' requested=' .. qty)
end
local left = redis.call('HINCRBY', KEYS[1], 'available', -qty)
redis.call('XADD', KEYS[2], '*', 'kind', 'sold', 'pair', KEYS[1], 'qty', qty, 'available', left)
return left
