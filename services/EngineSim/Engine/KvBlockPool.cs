namespace Platform.EngineSim.Engine;

/// <summary>
/// The paged KV cache, as vLLM V1's BlockPool: a fixed set of blocks, reference-counted; a block whose count
/// drops to zero joins the tail of the free queue but keeps its prefix hash, so it can be hit again until
/// it is reused (allocation takes the head of the queue: least recently freed first, and evicts the hash).
/// Not thread-safe: the engine's scheduler lock guards it.
/// </summary>
internal sealed class KvBlockPool
{
    private const int None = -1;

    private readonly int[] _refCount;
    private readonly ulong[] _hash;
    private readonly bool[] _hashed;
    private readonly int[] _prev;
    private readonly int[] _next;
    private readonly bool[] _free;
    private readonly Dictionary<ulong, int> _cached = [];
    private int _head = None;
    private int _tail = None;

    public KvBlockPool(int totalBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalBlocks, 1);
        Total = totalBlocks;
        _refCount = new int[totalBlocks];
        _hash = new ulong[totalBlocks];
        _hashed = new bool[totalBlocks];
        _prev = new int[totalBlocks];
        _next = new int[totalBlocks];
        _free = new bool[totalBlocks];
        for (var i = 0; i < totalBlocks; i++)
        {
            Append(i);
        }
    }

    public int Total { get; }

    /// <summary>Blocks nobody holds (cached ones included: they are evictable).</summary>
    public int FreeCount { get; private set; }

    public int UsedCount => Total - FreeCount;

    /// <summary>Blocks that hold a prefix hash (held or evictable).</summary>
    public int CachedCount => _cached.Count;

    /// <summary>Takes the least recently freed block, evicting its cached prefix if it had one.</summary>
    public int Allocate()
    {
        var block = _head;
        if (block == None)
        {
            throw new InvalidOperationException("No free KV-cache block.");
        }

        Unlink(block);
        Evict(block);
        _refCount[block] = 1;
        return block;
    }

    /// <summary>Takes one more reference on a cached block (a prefix hit); revives it if it was free.</summary>
    public void Touch(int block)
    {
        if (_refCount[block]++ == 0)
        {
            Unlink(block);
        }
    }

    /// <summary>Drops a reference; at zero the block joins the free queue, its prefix still cached.</summary>
    public void Release(int block)
    {
        if (--_refCount[block] == 0)
        {
            Append(block);
        }
    }

    public bool IsFree(int block) => _free[block];

    public bool TryGetCached(ulong hash, out int block) => _cached.TryGetValue(hash, out block);

    /// <summary>Makes a computed, full prompt block findable by its hash (the first block with a hash keeps it).</summary>
    public void Register(int block, ulong hash)
    {
        if (_hashed[block] || !_cached.TryAdd(hash, block))
        {
            return;
        }

        _hash[block] = hash;
        _hashed[block] = true;
    }

    private void Evict(int block)
    {
        if (_hashed[block])
        {
            _cached.Remove(_hash[block]);
            _hashed[block] = false;
        }
    }

    private void Append(int block)
    {
        _free[block] = true;
        _prev[block] = _tail;
        _next[block] = None;
        if (_tail == None)
        {
            _head = block;
        }
        else
        {
            _next[_tail] = block;
        }

        _tail = block;
        FreeCount++;
    }

    private void Unlink(int block)
    {
        var prev = _prev[block];
        var next = _next[block];
        if (prev == None)
        {
            _head = next;
        }
        else
        {
            _next[prev] = next;
        }

        if (next == None)
        {
            _tail = prev;
        }
        else
        {
            _prev[next] = prev;
        }

        _free[block] = false;
        FreeCount--;
    }
}
