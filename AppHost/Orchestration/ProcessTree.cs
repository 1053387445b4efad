using System.Globalization;
using System.Runtime.InteropServices;

namespace Platform.AppHost.Orchestration;

/// <summary>A process as the kernel knows it: its id and start time (ids are reused; the pair is not).</summary>
internal readonly record struct ProcessIdentity(int Pid, ulong StartTime);

/// <summary>
/// Process trees and signals on Linux, read from /proc. A resource may start children of its own
/// (<c>dotnet tool run</c> starts the Garnet server; <c>docker run</c> a container client), so stopping or
/// cleaning up after a resource covers every process under it, including those whose parent already died.
/// </summary>
internal static partial class ProcessTree
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>The identity of a live process, or null.</summary>
    public static ProcessIdentity? Identify(int pid) =>
        TryReadStat(pid, out var stat) && !stat.IsZombie ? new ProcessIdentity(pid, stat.StartTime) : null;

    /// <summary>Every live descendant of <paramref name="root"/> (not the root itself), children first.</summary>
    public static IReadOnlyList<ProcessIdentity> Descendants(int root)
    {
        if (!IsSupported)
        {
            return [];
        }

        var children = new Dictionary<int, List<(int Pid, ulong Start)>>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                || !TryReadStat(pid, out var stat) || stat.IsZombie)
            {
                continue;
            }

            if (!children.TryGetValue(stat.ParentPid, out var list))
            {
                children[stat.ParentPid] = list = [];
            }

            list.Add((pid, stat.StartTime));
        }

        var result = new List<ProcessIdentity>();
        var queue = new Queue<int>();
        queue.Enqueue(root);
        while (queue.Count > 0)
        {
            if (!children.TryGetValue(queue.Dequeue(), out var list))
            {
                continue;
            }

            foreach (var (pid, start) in list)
            {
                result.Add(new ProcessIdentity(pid, start));
                queue.Enqueue(pid);
            }
        }

        return result;
    }

    /// <summary>True while the process runs (a zombie has ended; a reused id with another start time is another process).</summary>
    public static bool IsAlive(ProcessIdentity process) =>
        TryReadStat(process.Pid, out var stat) && stat.StartTime == process.StartTime && !stat.IsZombie;

    /// <summary>Sends <paramref name="signal"/> if the process is still the one identified.</summary>
    public static bool Signal(ProcessIdentity process, int signal) =>
        IsAlive(process) && Signal(process.Pid, signal);

    public static bool Signal(int pid, int signal) => IsSupported && NativeKill(pid, signal) == 0;

    private readonly record struct Stat(int ParentPid, ulong StartTime, bool IsZombie);

    private static bool TryReadStat(int pid, out Stat stat)
    {
        stat = default;
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        // "pid (comm) state ppid ... starttime(22) ...": comm may hold spaces and parentheses.
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return false;
        }

        var fields = text[(close + 2)..].Split(' ');
        if (fields.Length < 20
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent)
            || !ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return false;
        }

        stat = new Stat(parent, start, fields[0] is "Z" or "X");
        return true;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int NativeKill(int pid, int signal);
}
