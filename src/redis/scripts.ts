/**
 * Every Lua script the prober runs, one copy each. Each script is one atomic step whose reason
 * is given beside it; the callers name the keys (redis/keys.ts) and arguments.
 */

/** KEYS[1] ARGV[1]=owner: deletes a lock only its owner holds, so a lapsed owner never frees a successor's lock. */
export const RELEASE_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS[1] ARGV[1]=owner ARGV[2]=ttl ms: renews a lock only its owner holds. */
export const EXTEND_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

// One atomic step: a cycle another replica already claimed is "taken" even while its sweep still
// runs; an unclaimed cycle meeting a sweep in progress is "busy", and is marked skipped for the
// whole cluster, so a replica ticking a moment later, after that sweep ended, doesn't sweep it late.
/** KEYS[1]=sweep running KEYS[2]=sweep cycle ARGV[1]=owner ARGV[2]=running ttl ms ARGV[3]=cycle ttl ms → 'claimed' | 'taken' | 'busy'. */
export const CLAIM_CYCLE = `
local decided = redis.call('GET', KEYS[2])
if decided == 'skipped' then return 'busy' end
if decided then return 'taken' end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  redis.call('SET', KEYS[2], 'skipped', 'PX', ARGV[3])
  return 'busy'
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 'claimed'
`;

// The same decision for a replica that knows its own sweep still runs: skipped unless claimed.
/** KEYS[1]=sweep cycle ARGV[1]=cycle ttl ms → 1 when the cycle is skipped. */
export const SKIP_CYCLE = `
redis.call('SET', KEYS[1], 'skipped', 'PX', ARGV[1], 'NX')
if redis.call('GET', KEYS[1]) == 'skipped' then return 1 end
return 0
`;

// Claims each id not pending, or pending only from a sweep older than ARGV[2] (a claim whose job
// was lost: the add failed after the claim, or the job failed while Redis was unreachable).
/** KEYS[1]=pending probes ARGV[1]=cycle ARGV[2]=stale before ARGV[3..]=device ids → the ids claimed. */
export const CLAIM_PENDING = `
local out = {}
local stale = tonumber(ARGV[2])
for i = 3, #ARGV do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if (not cur) or tonumber(cur) < stale then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
    out[#out + 1] = ARGV[i]
  end
end
return out
`;

// Releases only the claims of this sweep: a newer sweep's claim belongs to a job still waiting.
/** KEYS[1]=pending probes ARGV[1]=cycle ARGV[2..]=device ids. */
export const RELEASE_PENDING = `
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
`;

// Compare-and-set on a version field, for a probe job's devices in one call (one command, not
// one per device, keeps the client's and the server's per-command costs off the per-check path).
// Two workers hold the same device only when a stalled job is re-run, and then the later write
// must not clobber the earlier one silently.
/**
 * KEYS = device states; ARGV[1]=ttl ms, then per key: expected version, field count n, n
 * field/value items → one 1 (written) or 0 (version moved) per key.
 */
export const DEVICE_STATES_CAS = `
local out = {}
local a = 2
for i = 1, #KEYS do
  local expected, n = ARGV[a], tonumber(ARGV[a + 1])
  local v = redis.call('HGET', KEYS[i], 'v') or '0'
  if v == expected then
    redis.call('HSET', KEYS[i], 'v', tostring(tonumber(v) + 1), unpack(ARGV, a + 2, a + 1 + n))
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
  a = a + 2 + n
end
return out
`;

// Read side of DEVICE_STATES_CAS: every key's hash in one reply.
/** KEYS = device states → one flat field/value array per key (empty for a missing key). */
export const DEVICE_STATES_READ = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
`;

// Returns each device's last check from the group, recording "first queued now" for a device
// the group has never checked: a device new to a group gets two cycles before it counts as not probed.
/** queue/group-coverage.ts, KEYS[1] groupLastCheck, ARGV[1] cycle, ARGV[2..] device ids. */
export const NOTE_GROUP_QUEUED = `
local out = {}
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if not v then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
    v = ARGV[1]
  end
  out[#out + 1] = v
end
return out
`;

// One round trip for a page's cached details instead of one HMGET per device. A key that is not
// a hash reads as a miss (as one failed HMGET in a pipeline did): that detail is fetched again.
/** inventory/details.ts, KEYS[1..] deviceDetail keys, ARGV[1..] field names → the fields of every key in turn (nil for missing ones). */
export const READ_DETAILS = `
local out = {}
local n = 0
for i = 1, #KEYS do
  local values = redis.pcall('HMGET', KEYS[i], unpack(ARGV))
  local failed = values.err ~= nil
  for j = 1, #ARGV do
    n = n + 1
    if failed then out[n] = false else out[n] = values[j] end
  end
end
return out
`;
