namespace Platform.EngineSim.Engine;

/// <summary>
/// The waiting queue: FCFS at the back, preempted sequences return at the front (vLLM V1's
/// prepend_request). A ring buffer; a sequence that leaves while waiting (abort) stays as a stale entry
/// and is dropped when it reaches the front, so removal is O(1).
/// </summary>
internal sealed class SequenceDeque
{
    private Sequence[] _items = new Sequence[64];
    private int _head;
    private int _count;

    /// <summary>Entries, stale ones included.</summary>
    public int Count => _count;

    public void PushBack(Sequence sequence)
    {
        Grow();
        _items[(_head + _count) % _items.Length] = sequence;
        _count++;
    }

    public void PushFront(Sequence sequence)
    {
        Grow();
        _head = (_head - 1 + _items.Length) % _items.Length;
        _items[_head] = sequence;
        _count++;
    }

    /// <summary>The first sequence still waiting, dropping stale entries on the way; null when none.</summary>
    public Sequence? PeekWaiting()
    {
        while (_count > 0)
        {
            var first = _items[_head];
            if (first.State == SequenceState.Waiting)
            {
                return first;
            }

            PopFront();
        }

        return null;
    }

    public Sequence PopFront()
    {
        var first = _items[_head];
        _items[_head] = null!;
        _head = (_head + 1) % _items.Length;
        _count--;
        return first;
    }

    /// <summary>Every sequence still waiting, front to back.</summary>
    public void CopyWaitingTo(List<Sequence> destination)
    {
        for (var i = 0; i < _count; i++)
        {
            var sequence = _items[(_head + i) % _items.Length];
            if (sequence.State == SequenceState.Waiting)
            {
                destination.Add(sequence);
            }
        }
    }

    public void Clear()
    {
        Array.Clear(_items);
        _head = 0;
        _count = 0;
    }

    private void Grow()
    {
        if (_count < _items.Length)
        {
            return;
        }

        var larger = new Sequence[_items.Length * 2];
        for (var i = 0; i < _count; i++)
        {
            larger[i] = _items[(_head + i) % _items.Length];
        }

        _items = larger;
        _head = 0;
    }
}
