using System.Globalization;
using System.Runtime.InteropServices;

namespace Platform.Bench;

/// <summary>
/// The kernel's time slice for every thread of this process (EEVDF custom slice: sched_setattr with SCHED_OTHER and a
/// sched_runtime, Linux 6.12 and later). Threads and processes started afterwards inherit it, so the engine, Redis
/// and the gateway a benchmark starts run with it too.
/// </summary>
/// <remarks>
/// A task woken on a busy core waits for the running task's slice (1.4 ms by default on two cores: 0.7 ms scaled
/// by 1 + log2 of the core count) unless its own slice is shorter. With several processes sharing a core, each
/// wake-up can cost up to that much, and a path with more wake-ups on that core pays more of it.
/// </remarks>
internal static partial class SchedulerSlice
{
    private const int SchedOther = 0;

    /// <summary>Sets the slice on every thread of this process; returns the slice the kernel reports for this thread.</summary>
    public static TimeSpan Apply(TimeSpan slice)
    {
        var number = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 314,
            Architecture.Arm64 => 274,
            var other => throw new PlatformNotSupportedException($"sched_setattr: no syscall number for {other}"),
        };
        var attr = new SchedAttr
        {
            Size = (uint)Marshal.SizeOf<SchedAttr>(),
            Policy = SchedOther,
            Runtime = (ulong)(slice.Ticks * 100),
        };
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            var tid = int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture);
            if (SysCall(number, tid, ref attr, 0) != 0 && Marshal.GetLastPInvokeError() is var errno and not 3)
            {
                // ESRCH (3): the thread ended between the listing and the call.
                throw new InvalidOperationException($"sched_setattr on thread {tid} failed: errno {errno}");
            }
        }

        return Current() ?? throw new InvalidOperationException("this kernel reports no se.slice in /proc/thread-self/sched");
    }

    /// <summary>This thread's slice as the kernel reports it (se.slice, ns), or null where it reports none.</summary>
    public static TimeSpan? Current()
    {
        try
        {
            var line = File.ReadLines("/proc/thread-self/sched").FirstOrDefault(l => l.StartsWith("se.slice", StringComparison.Ordinal));
            return line is null ? null : TimeSpan.FromTicks(long.Parse(line.Split(':', 2)[1].Trim(), CultureInfo.InvariantCulture) / 100);
        }
        catch (IOException)
        {
            return null;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedAttr
    {
        public uint Size;
        public uint Policy;
        public ulong Flags;
        public int Nice;
        public uint Priority;
        public ulong Runtime;
        public ulong Deadline;
        public ulong Period;
        public uint UtilMin;
        public uint UtilMax;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long SysCall(long number, int tid, ref SchedAttr attr, uint flags);
}
