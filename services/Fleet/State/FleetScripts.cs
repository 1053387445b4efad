namespace Platform.Fleet.State;

/// <summary>
/// The Lua scripts of the fleet state: every transition is one script, so it is atomic across replicas. Times come
/// from the caller's TimeProvider (Unix ms) so local and Redis rules are the same functions of the same inputs.
/// Changes are PUBLISHed from inside the script (no window between the write and the message).
/// See README.md for keys and message formats.
/// </summary>
internal static class FleetScripts
{
    private const string Prelude = """
        local F = {'state','ver','cf','ws','wf','wa','pf','pa','opened','retry','cool','reason'}
        local function n(x) return string.format('%.0f', x) end
        local function load(key)
          local v = redis.call('HMGET', key, unpack(F))
          return { state = v[1] or 'closed', ver = tonumber(v[2]) or 0, cf = tonumber(v[3]) or 0,
            ws = tonumber(v[4]) or 0, wf = tonumber(v[5]) or 0, wa = tonumber(v[6]) or 0,
            pf = tonumber(v[7]) or 0, pa = tonumber(v[8]) or 0, opened = tonumber(v[9]) or 0,
            retry = tonumber(v[10]) or 0, cool = tonumber(v[11]) or 0, reason = v[12] or '' }
        end
        local function values(b)
          return { b.state, n(b.ver), n(b.cf), n(b.ws), n(b.wf), n(b.wa), n(b.pf), n(b.pa),
            n(b.opened), n(b.retry), n(b.cool), b.reason }
        end
        local function save(key, b)
          local v = values(b)
          local args = {}
          for i = 1, 12 do args[#args + 1] = F[i]; args[#args + 1] = v[i] end
          redis.call('HSET', key, unpack(args))
        end
        local function publish(channel, engine, origin, now, b)
          redis.call('PUBLISH', channel, 'B|' .. engine .. '|' .. origin .. '|' .. n(now) .. '|' .. table.concat(values(b), '|'))
        end

        """;

    /// <summary>
    /// KEYS: breaker hash, engines set. ARGV: engine, origin, now, outcome (s|f), reason, consecutive threshold,
    /// failure ratio, minimum attempts, window ms, cool-down ms, channel. Returns the record.
    /// </summary>
    public const string RecordOutcome = Prelude + """
        local now = tonumber(ARGV[3])
        local window = tonumber(ARGV[9])
        redis.call('SADD', KEYS[2], ARGV[1])
        local b = load(KEYS[1])
        if b.state ~= 'closed' then return values(b) end
        local start = math.floor(now / window) * window
        if b.ws ~= start then
          if b.ws == start - window then b.pf = b.wf; b.pa = b.wa else b.pf = 0; b.pa = 0 end
          b.wf = 0; b.wa = 0; b.ws = start
        end
        b.wa = b.wa + 1
        local opened = false
        if ARGV[4] == 'f' then
          b.cf = b.cf + 1; b.wf = b.wf + 1
          local weight = 1 - (now - b.ws) / window
          local attempts = b.wa + b.pa * weight
          local failures = b.wf + b.pf * weight
          if b.cf >= tonumber(ARGV[6]) or (attempts >= tonumber(ARGV[8]) and failures >= tonumber(ARGV[7]) * attempts) then
            b.state = 'open'; b.ver = b.ver + 1; b.opened = now; b.cool = tonumber(ARGV[10])
            b.retry = now + b.cool; b.reason = ARGV[5]
            opened = true
          end
        else
          b.cf = 0
        end
        save(KEYS[1], b)
        if opened then publish(ARGV[11], ARGV[1], ARGV[2], now, b) end
        return values(b)
        """;

    /// <summary>
    /// KEYS: breaker hash, probe lease key. ARGV: engine, origin, now, lease ms, channel.
    /// Returns '1'|'0' (lease granted) followed by the record.
    /// </summary>
    public const string AcquireProbe = Prelude + """
        local now = tonumber(ARGV[3])
        local b = load(KEYS[1])
        local granted = '0'
        if b.state ~= 'closed' and not (b.state == 'open' and now < b.retry) then
          if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[4]) then
            granted = '1'
            if b.state ~= 'half_open' then
              b.state = 'half_open'; b.ver = b.ver + 1
              save(KEYS[1], b)
              publish(ARGV[5], ARGV[1], ARGV[2], now, b)
            end
          end
        end
        local v = values(b)
        table.insert(v, 1, granted)
        return v
        """;

    /// <summary>
    /// KEYS: breaker hash, probe lease key. ARGV: engine, origin, now, success (1|0), reason, cool-down ms,
    /// max cool-down ms, channel. Success closes; failure re-opens with the cool-down doubled (capped). Returns the record.
    /// </summary>
    public const string CompleteProbe = Prelude + """
        local now = tonumber(ARGV[3])
        if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
        local b = load(KEYS[1])
        if b.state == 'closed' then return values(b) end
        if ARGV[4] == '1' then
          b.state = 'closed'; b.cf = 0; b.ws = 0; b.wf = 0; b.wa = 0; b.pf = 0; b.pa = 0
          b.opened = 0; b.retry = 0; b.cool = 0; b.reason = ''
        else
          local base = tonumber(ARGV[6])
          local cool = b.cool
          if cool < base then cool = base end
          cool = cool * 2
          if cool > tonumber(ARGV[7]) then cool = tonumber(ARGV[7]) end
          b.state = 'open'; b.cool = cool; b.retry = now + cool; b.reason = ARGV[5]
        end
        b.ver = b.ver + 1
        save(KEYS[1], b)
        publish(ARGV[8], ARGV[1], ARGV[2], now, b)
        return values(b)
        """;

    /// <summary>KEYS: drain hash, engines set. ARGV: engine, origin, now, draining (1|0), reason, channel. Returns the new version.</summary>
    public const string SetDrain = """
        redis.call('SADD', KEYS[2], ARGV[1])
        local ver = (tonumber(redis.call('HGET', KEYS[1], 'ver')) or 0) + 1
        local v = string.format('%.0f', ver)
        redis.call('HSET', KEYS[1], 'd', ARGV[4], 'ver', v, 'reason', ARGV[5], 'at', ARGV[3])
        redis.call('PUBLISH', ARGV[6], 'D|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. v .. '|' .. ARGV[4] .. '|' .. ARGV[5])
        return v
        """;

    /// <summary>
    /// KEYS: engines set, then one health key per entry. ARGV: channel, origin, now, ttl ms, then engine and
    /// payload (JSON) per entry. Each entry is SET with PX ttl and published.
    /// </summary>
    public const string PublishHealth = """
        for i = 2, #KEYS do
          local engine = ARGV[5 + (i - 2) * 2]
          local payload = ARGV[6 + (i - 2) * 2]
          redis.call('SET', KEYS[i], payload, 'PX', ARGV[4])
          redis.call('SADD', KEYS[1], engine)
          redis.call('PUBLISH', ARGV[1], 'H|' .. engine .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. payload)
        end
        return #KEYS - 1
        """;

    /// <summary>
    /// Re-sync after an outage (and on every reconcile): writes this replica's breakers and drains where Redis has
    /// nothing or an older version, publishing each write. KEYS: engines set. ARGV: channel, origin, now, key prefix,
    /// breaker count, then per breaker the engine and its twelve values, then per drain: engine, version, 1|0, reason.
    /// Keys are built from the prefix inside the script (single-node Redis, as the platform runs it).
    /// </summary>
    public const string Push = Prelude + """
        local prefix = ARGV[4]
        local breakers = tonumber(ARGV[5])
        local i = 6
        local written = 0
        for _ = 1, breakers do
          local engine = ARGV[i]
          local key = prefix .. 'fleet:breaker:' .. engine
          local current = tonumber(redis.call('HGET', key, 'ver')) or 0
          if tonumber(ARGV[i + 2]) > current then
            local args = {}
            for f = 1, 12 do args[#args + 1] = F[f]; args[#args + 1] = ARGV[i + f] end
            redis.call('HSET', key, unpack(args))
            redis.call('SADD', KEYS[1], engine)
            redis.call('PUBLISH', ARGV[1], 'B|' .. engine .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. table.concat({unpack(ARGV, i + 1, i + 12)}, '|'))
            written = written + 1
          end
          i = i + 13
        end
        while i + 3 <= #ARGV do
          local engine = ARGV[i]
          local key = prefix .. 'fleet:drain:' .. engine
          local current = tonumber(redis.call('HGET', key, 'ver')) or 0
          if tonumber(ARGV[i + 1]) > current then
            redis.call('HSET', key, 'd', ARGV[i + 2], 'ver', ARGV[i + 1], 'reason', ARGV[i + 3], 'at', ARGV[3])
            redis.call('SADD', KEYS[1], engine)
            redis.call('PUBLISH', ARGV[1], 'D|' .. engine .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[i + 1] .. '|' .. ARGV[i + 2] .. '|' .. ARGV[i + 3])
            written = written + 1
          end
          i = i + 4
        end
        return written
        """;

    /// <summary>
    /// The whole fleet in one atomic read. KEYS: engines set. ARGV: key prefix. Returns one row per engine:
    /// engine, the breaker's twelve values ('' when absent), drain version, flag and reason, health payload, health PTTL.
    /// </summary>
    public const string Snapshot = Prelude + """
        local prefix = ARGV[1]
        local out = {}
        for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local row = { id }
          local b = redis.call('HMGET', prefix .. 'fleet:breaker:' .. id, unpack(F))
          for f = 1, 12 do row[#row + 1] = b[f] or '' end
          local d = redis.call('HMGET', prefix .. 'fleet:drain:' .. id, 'ver', 'd', 'reason')
          row[#row + 1] = d[1] or ''; row[#row + 1] = d[2] or ''; row[#row + 1] = d[3] or ''
          local hk = prefix .. 'fleet:health:' .. id
          row[#row + 1] = redis.call('GET', hk) or ''
          row[#row + 1] = tostring(redis.call('PTTL', hk))
          out[#out + 1] = row
        end
        return out
        """;
}
