namespace Platform.Fleet.Limits;

/// <summary>The rate limiter's Lua: admission is one atomic check-and-count over the two buckets.</summary>
internal static class RateLimitScripts
{
    /// <summary>
    /// KEYS: requests current, requests previous, tokens current, tokens previous. ARGV: now ms, requests/min,
    /// tokens/min (0 = unlimited). Returns {1|0, limit ('requests'|'tokens'|''), retry-after ms}. Counts the request
    /// only when admitted; counters expire two minutes after their last write.
    /// </summary>
    public const string Acquire = """
        local now = tonumber(ARGV[1])
        local rpm = tonumber(ARGV[2])
        local tpm = tonumber(ARGV[3])
        local elapsed = now % 60000
        local weight = 1 - elapsed / 60000
        local function retry(p, c, budget)
          if c <= budget and p > 0 then
            local at = 60000 * (1 - (budget - c) / p)
            return math.max(1, math.ceil(at - elapsed))
          end
          local nxt = 60000
          if budget > 0 then nxt = 60000 * (1 - budget / c) end
          return (60000 - elapsed) + math.max(0, math.ceil(nxt))
        end
        if rpm > 0 then
          local c = tonumber(redis.call('GET', KEYS[1])) or 0
          local p = tonumber(redis.call('GET', KEYS[2])) or 0
          if p * weight + c + 1 > rpm then
            return { 0, 'requests', retry(p, c, rpm - 1) }
          end
        end
        if tpm > 0 then
          local c = tonumber(redis.call('GET', KEYS[3])) or 0
          local p = tonumber(redis.call('GET', KEYS[4])) or 0
          if p * weight + c >= tpm then
            return { 0, 'tokens', retry(p, c, tpm - 1) }
          end
        end
        redis.call('INCR', KEYS[1])
        redis.call('PEXPIRE', KEYS[1], 120000)
        return { 1, '', 0 }
        """;

    /// <summary>KEYS: tokens current. ARGV: tokens. Charges tokens to the current minute.</summary>
    public const string Charge = """
        redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], 120000)
        return 1
        """;
}
