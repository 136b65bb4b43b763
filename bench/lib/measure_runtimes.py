#!/usr/bin/python3
"""Times sequential OCI containers for bench/runtime: `RT --root R run --bundle B ID` then
`RT --root R delete --force ID`, for several runtimes and bundles, alternating between them so
that machine noise falls on all alike, plus a floor command (the same namespaces with unshare).

Each process is started with posix_spawn (vfork: no copy of this interpreter) and reaped with
wait4, whose rusage covers the process and every descendant it reaped (the container's init), so
CPU time is the runtime's own plus the container's. Peak RSS cannot come from that rusage: exec
records the vforked parent's (this interpreter's) RSS as the child's peak. It is measured in a
separate, untimed pass under GNU time (%M), a small C program whose child starts from a small mm.

Runtimes run once per state directory given (`--state-dir NAME=DIR`: bench/runtime gives a
tmpfs and a directory on disk), since a runtime's cost depends on where its state lives.

Prints a table per configuration and state directory, the ratio per state directory and, last,
`runtime: berth/crun = R (target <= 0.8)` with R the worse of them.
"""

import argparse
import itertools
import os
import statistics
import sys
import time

DEVNULL = "/dev/null"


def spawn_wait(argv, errfd):
    """Runs argv (stdin/stdout /dev/null, stderr to errfd); returns (status, rusage)."""
    os.ftruncate(errfd, 0)
    os.lseek(errfd, 0, os.SEEK_SET)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, DEVNULL, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, DEVNULL, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, errfd, 2),
    ]
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    return status, ru


def read_err(errfd):
    os.lseek(errfd, 0, os.SEEK_SET)
    return os.read(errfd, 4096).decode(errors="replace").strip()


class Subject:
    """One runtime (or the floor) in one configuration, with its state in one directory."""

    def __init__(self, name, variant, kind, argv_fn, state=None):
        self.name, self.variant, self.kind, self.argv_fn = name, variant, kind, argv_fn
        self.state = state  # state directory name; None for the floor
        self.wall, self.run_ms, self.del_ms, self.cpu = [], [], [], []
        self.maxrss = None  # KiB, from the GNU time pass
        self.failures = 0
        self.error = None  # first error seen
        self.disabled = None  # reason, when it never worked

    def once(self, i, errfd, record):
        steps = self.argv_fn(i)
        t0 = time.perf_counter_ns()
        times, cpu, ok = [], 0.0, True
        for argv in steps:
            s0 = time.perf_counter_ns()
            status, ru = spawn_wait(argv, errfd)
            times.append((time.perf_counter_ns() - s0) / 1e6)
            cpu += (ru.ru_utime + ru.ru_stime) * 1000
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                ok = False
                if self.error is None:
                    self.error = f"`{' '.join(argv)}` exited {code}: {read_err(errfd)}"
                break
        wall = (time.perf_counter_ns() - t0) / 1e6
        if not ok:
            self.failures += 1
            return False
        if record:
            self.wall.append(wall)
            self.run_ms.append(times[0])
            if len(times) > 1:
                self.del_ms.append(times[1])
            self.cpu.append(cpu)
        return True

    def measure_rss(self, i, errfd, gnu_time, out):
        """Peak RSS (KiB) of each step under GNU time; keeps the maximum."""
        for argv in self.argv_fn(i):
            status, _ = spawn_wait([gnu_time, "-f", "%M", "-o", out, *argv], errfd)
            if os.waitstatus_to_exitcode(status) != 0:
                return
            with open(out) as f:
                kib = int(f.read().split()[-1])
            self.maxrss = max(self.maxrss or 0, kib)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--work", required=True)
    ap.add_argument("--bundle", action="append", default=[], help="VARIANT=DIR")
    ap.add_argument("--runtime", action="append", default=[], help="NAME=PATH")
    ap.add_argument("--version", action="append", default=[], help="NAME=TEXT")
    ap.add_argument("--unavailable", action="append", default=[], help="NAME=REASON")
    ap.add_argument("--floor", action="append", default=[], help="VARIANT=ARGV (space-separated)")
    ap.add_argument("--floor-label", default="floor")
    ap.add_argument("--headline", default="netns", help="variant of the last line")
    ap.add_argument("--rss-runs", type=int, default=3)
    ap.add_argument("--gnu-time", default="/usr/bin/time")
    ap.add_argument("--state-dir", action="append", default=[],
                    help="NAME=DIR: where the runtimes' --root dirs go (repeatable)")
    a = ap.parse_args()

    bundles = dict(b.split("=", 1) for b in a.bundle)
    variants = list(bundles)
    versions = dict(v.split("=", 1) for v in a.version)
    unavailable = dict(u.split("=", 1) for u in a.unavailable)
    states = [tuple(d.split("=", 1)) if "=" in d else ("state", d) for d in a.state_dir]
    if not states:
        states = [("work", a.work)]
    pid = os.getpid()

    subjects = []
    for spec in a.runtime:
        name, path = spec.split("=", 1)
        for state, state_dir in states:
            root = os.path.join(state_dir, f"root-{name}")
            for variant, bundle in bundles.items():

                def argv_fn(i, path=path, root=root, bundle=bundle, name=name, variant=variant,
                            state=state):
                    cid = f"b{pid}-{name}-{variant}-{state}-{i}"
                    return [
                        [path, "--root", root, "run", "--bundle", bundle, cid],
                        [path, "--root", root, "delete", "--force", cid],
                    ]

                subjects.append(Subject(name, variant, "runtime", argv_fn, state))
    for spec in a.floor:
        variant, cmd = spec.split("=", 1)
        argv = cmd.split()
        subjects.append(Subject(a.floor_label, variant, "floor", lambda i, argv=argv: [argv]))

    errfd = os.open(os.path.join(a.work, "stderr"), os.O_RDWR | os.O_CREAT, 0o600)

    # Warm-up rounds, not recorded; a subject that never succeeds is reported and dropped.
    for w in range(a.warmup):
        for s in subjects:
            if s.disabled is None:
                s.once(f"w{w}", errfd, record=False)
    for s in subjects:
        if s.failures == a.warmup and a.warmup > 0:
            s.disabled = s.error
        s.failures = 0

    live = [s for s in subjects if s.disabled is None]
    for i in range(a.n):
        # Rotate the order every round so no subject always runs right after the same one.
        k = i % len(live) if live else 0
        for s in live[k:] + live[:k]:
            s.once(i, errfd, record=True)

    # Peak memory, untimed.
    if os.access(a.gnu_time, os.X_OK):
        out = os.path.join(a.work, "rss")
        for r in range(a.rss_runs):
            for s in live:
                s.measure_rss(f"m{r}", errfd, a.gnu_time, out)

    # Report.
    def stats(s):
        if not s.wall:
            return None
        return {
            "median": statistics.median(s.wall),
            "run": statistics.median(s.run_ms),
            "delete": statistics.median(s.del_ms) if s.del_ms else None,
            "cpu": statistics.mean(s.cpu),
            "rss": f"{s.maxrss / 1024:7.1f}Mi" if s.maxrss else f"{'-':>9}",
        }

    names = []
    for s in subjects:
        if s.name not in names:
            names.append(s.name)
    by = {(s.name, s.variant, s.state): s for s in subjects}

    print(
        f"{a.n} sequential containers running /bin/true per runtime, configuration and state "
        f"directory, after {a.warmup} warm-up rounds; one container = `RT run` + "
        "`RT delete --force`."
    )
    print("wall = median per container; cpu = mean user+sys per container (runtime + container);")
    print("rss = peak resident set of the runtime or the container (GNU time %M, untimed pass).")
    print("state directories: " + ", ".join(f"{n} = {d}" for n, d in states))
    for variant, (state, _) in itertools.product(variants, states):
        print()
        print(f"[{variant}, state on {state}]")
        print(f"{'':<12} {'wall ms':>8} {'run ms':>8} {'delete ms':>9} {'cpu ms':>8} {'max RSS':>9}  version")
        for name in names:
            s = by.get((name, variant, state)) or by.get((name, variant, None))
            if s is None:
                continue
            st = stats(s)
            ver = versions.get(name, "")
            if s.disabled is not None or st is None:
                why = s.disabled or s.error or "no successful run"
                print(f"{name:<12} {'failed':>8}  {why[:300]}")
                continue
            dele = f"{st['delete']:9.2f}" if st["delete"] is not None else f"{'-':>9}"
            fails = f"  ({s.failures} of {a.n} failed: {s.error[:200]})" if s.failures else ""
            print(
                f"{name:<12} {st['median']:8.2f} {st['run']:8.2f} {dele} {st['cpu']:8.2f} "
                f"{st['rss']}  {ver}{fails}"
            )

    def ratio(num, den, variant, state, key="median"):
        x = by.get((num, variant, state)) or by.get((num, variant, None))
        y = by.get((den, variant, state)) or by.get((den, variant, None))
        sx, sy = (stats(x) if x else None), (stats(y) if y else None)
        if not sx or not sy or x.failures or y.failures:
            return None
        return sx[key] / sy[key]

    print()
    for variant, (state, _) in itertools.product(variants, states):
        parts = []
        for den in ("crun", "runc", a.floor_label):
            r = ratio("berth", den, variant, state)
            parts.append(f"berth/{den} = {r:.2f}" if r is not None else f"berth/{den} = n/a")
        r = ratio("crun", a.floor_label, variant, state)
        parts.append(f"crun/{a.floor_label} = {r:.2f}" if r is not None else f"crun/{a.floor_label} = n/a")
        r = ratio("berth", "crun", variant, state, key="run")
        parts.append(f"`run` alone berth/crun = {r:.2f}" if r is not None else "`run` alone berth/crun = n/a")
        print(f"ratios [{variant}, state on {state}]: " + ", ".join(parts))

    berth = [s for s in subjects if s.name == "berth"]
    reason = unavailable.get("berth")
    if reason is None and berth and any(s.disabled or s.failures for s in berth):
        reason = next(s.disabled or s.error for s in berth if s.disabled or s.failures)
    if reason is not None:
        print()
        print(f"ERROR: berth-runc could not be measured: {reason}")
    # One ratio per state directory; the headline is the worse one.
    print()
    per_state = [(state, ratio("berth", "crun", a.headline, state)) for state, _ in states]
    for state, r in per_state:
        shown = f"{r:.2f}" if r is not None else "n/a"
        print(f"state on {state} [{a.headline}]: berth/crun = {shown}")
    rs = [r for _, r in per_state]
    r = None if any(x is None for x in rs) else max(rs)
    print(f"runtime: berth/crun = {r:.2f} (target <= 0.8)" if r is not None
          else "runtime: berth/crun = n/a (target <= 0.8)")
    return 0 if r is not None else 1


if __name__ == "__main__":
    sys.exit(main())
