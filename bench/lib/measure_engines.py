#!/usr/bin/python3
"""Times `docker run --rm --network none IMAGE true` through several Docker-API engines with
one docker CLI (DOCKER_HOST switched), alternating between them so that machine noise falls on
all alike, then measures memory: each idle daemon, and what one idle running container adds
(its per-container processes: monitor, shim or conmon).

An engine is given as NAME|HOST|DAEMON_PID|DAEMON_CHILD_COMM|SHIM_COMM|NEEDLE|VERSION:
DAEMON_CHILD_COMM names a child of the daemon counted with it (dockerd's containerd), SHIM_COMM
the per-container process (comm, a prefix of at most 15 characters), NEEDLE a string in that
process's command line that ties it to this engine's private roots.

Memory is read from /proc: RSS is VmRSS (/proc/PID/status); PSS is Pss from
/proc/PID/smaps_rollup, which shares the pages of a binary mapped by many processes among them
(what ten monitors or shims really cost together). Prints a table and, last,
`run: berth/dockerd = R (target <= 0.3)`.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

TARGET_RUN = 0.3  # berth/dockerd, median wall time of `docker run --rm`
TARGET_IDLE_MB = 30.0  # idle berth daemon RSS
TARGET_PER_CONTAINER_MB = 1.5  # RSS a running container adds


class Engine:
    def __init__(self, spec):
        (self.name, self.host, pid, self.child_comm, self.shim_comm, self.needle,
         self.version) = spec.split("|", 6)
        self.pid = int(pid)
        self.wall = []
        self.daemon_cpu = []
        self.error = None
        self.idle = None  # (rss_kb, pss_kb)
        self.per_container = None  # (rss_kb, pss_kb) per container
        self.shims = 0
        self.daemon_growth_kb = None

    def env(self):
        e = dict(os.environ)
        e["DOCKER_HOST"] = self.host
        return e

    def daemon_pids(self):
        pids = [self.pid]
        if self.child_comm:
            pids += [p for p in children(self.pid) if comm(p) == self.child_comm]
        return pids

    def shim_pids(self):
        out = []
        for p in all_pids():
            if comm(p) == self.shim_comm and self.needle in cmdline(p):
                out.append(p)
        return out


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def comm(pid):
    return read(f"/proc/{pid}/comm").decode(errors="replace").strip()


def cmdline(pid):
    return read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")


def children(pid):
    out = []
    for p in all_pids():
        stat = read(f"/proc/{p}/stat").decode(errors="replace")
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(p)
    return out


def field_kb(text, key):
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_pss_kb(pids):
    rss = pss = 0
    for p in pids:
        rss += field_kb(read(f"/proc/{p}/status").decode(), "VmRSS")
        pss += field_kb(read(f"/proc/{p}/smaps_rollup").decode(), "Pss")
    return rss, pss


def cpu_ms(pids):
    """utime + stime of the processes (their own, not their reaped children's)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        stat = read(f"/proc/{p}/stat").decode(errors="replace")
        if stat:
            f = stat.rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
    return total * 1000 / tick


def docker(e, args, docker_bin, check=True, capture=False):
    r = subprocess.run([docker_bin] + args, env=e.env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{e.name}: docker {' '.join(args)} exited {r.returncode}: "
                           f"{r.stderr.decode(errors='replace').strip()}")
    return r.stdout.decode() if capture else r.returncode


def percentile(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--containers", type=int, default=10)
    ap.add_argument("--docker", default="/usr/local/bin/docker")
    ap.add_argument("--image", default="busybox:latest")
    ap.add_argument("--engine", action="append", required=True)
    ap.add_argument("--headline", default="berth/dockerd")
    a = ap.parse_args()
    engines = [Engine(s) for s in a.engine]
    run_args = ["run", "--rm", "--network", "none", a.image, "true"]

    def once(e, record):
        if e.error:
            return
        cpu0 = cpu_ms(e.daemon_pids())
        t0 = time.perf_counter()
        r = subprocess.run([a.docker] + run_args, env=e.env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        ms = (time.perf_counter() - t0) * 1000
        if r.returncode != 0:
            e.error = f"`docker {' '.join(run_args)}` exited {r.returncode}: " \
                      f"{r.stderr.decode(errors='replace').strip()[:300]}"
            return
        if record:
            e.wall.append(ms)
            e.daemon_cpu.append(cpu_ms(e.daemon_pids()) - cpu0)

    for i in range(a.warmup):
        for e in engines:
            once(e, False)
    for i in range(a.n):
        # Rotate the order each round: no engine always runs right after another one.
        k = i % len(engines)
        for e in engines[k:] + engines[:k]:
            once(e, True)
        if (i + 1) % 10 == 0:
            print(f"  {i + 1}/{a.n} rounds", file=sys.stderr)

    # --- memory ---------------------------------------------------------------------------------
    for e in engines:
        if e.error:
            continue
        try:
            left = docker(e, ["ps", "-aq"], a.docker, capture=True).split()
            if left:
                raise RuntimeError(f"{e.name}: `docker run --rm` left containers {left}")
            time.sleep(2)  # let the daemon settle after the runs
            e.idle = rss_pss_kb(e.daemon_pids())
            before = set(e.shim_pids())
            if before:
                raise RuntimeError(f"{e.name}: per-container processes with no container: "
                                   f"{sorted(before)}")
            ids = []
            for _ in range(a.containers):
                ids.append(docker(e, ["run", "-d", "--network", "none", a.image, "sleep",
                                      "1000"], a.docker, capture=True).strip())
            time.sleep(2)
            shims = e.shim_pids()
            e.shims = len(shims)
            rss, pss = rss_pss_kb(shims)
            e.per_container = (rss / a.containers, pss / a.containers)
            e.daemon_growth_kb = rss_pss_kb(e.daemon_pids())[0] - e.idle[0]
            docker(e, ["rm", "-f"] + ids, a.docker)
            deadline = time.time() + 20
            while e.shim_pids() and time.time() < deadline:
                time.sleep(0.1)
            if e.shim_pids():
                raise RuntimeError(f"{e.name}: per-container processes left after rm -f")
        except RuntimeError as err:
            e.error = str(err)

    # --- report ---------------------------------------------------------------------------------
    print(f"\n`docker {' '.join(run_args)}` with {a.docker}, {a.n} runs per engine "
          f"(after {a.warmup} warm-up runs), engines alternating")
    for e in engines:
        print(f"  {e.name:8} {e.version}")
    hdr = (f"{'engine':8} {'median_ms':>10} {'p90_ms':>8} {'daemon_cpu_ms':>14} "
           f"{'idle_rss_MB':>12} {'idle_pss_MB':>12} {'ctr_rss_MB':>11} {'ctr_pss_MB':>11} "
           f"{'procs':>6} {'daemon+_MB':>11}")
    print("\n" + hdr)
    for e in engines:
        if e.error and not e.wall:
            print(f"{e.name:8} n/a: {e.error}")
            continue
        mb = lambda kb: f"{kb / 1024:.2f}"  # noqa: E731
        idle = e.idle or (float("nan"),) * 2
        per = e.per_container or (float("nan"),) * 2
        growth = e.daemon_growth_kb if e.daemon_growth_kb is not None else float("nan")
        print(f"{e.name:8} {statistics.median(e.wall):10.1f} {percentile(e.wall, 0.9):8.1f} "
              f"{statistics.mean(e.daemon_cpu):14.1f} {mb(idle[0]):>12} {mb(idle[1]):>12} "
              f"{mb(per[0]):>11} {mb(per[1]):>11} {e.shims:>6} {mb(growth):>11}")
        if e.error:
            print(f"{'':8} error: {e.error}")
    print("  median/p90: wall ms of the CLI command; daemon_cpu: mean CPU ms per run of the\n"
          "  daemon (dockerd + containerd), in clock ticks; idle: the daemon with no container;\n"
          "  ctr: the per-container processes (berth-monitor, containerd-shim, conmon) per idle\n"
          f"  running container, over {a.containers}; procs: how many; daemon+: the daemon's RSS\n"
          "  growth while they run")

    by = {e.name: e for e in engines}
    b = by.get("berth")

    def ratio(x, y):
        if not (x and y and x.wall and y.wall) or x.error and not x.wall:
            return None
        return statistics.median(x.wall) / statistics.median(y.wall)

    for peer in ("dockerd", "podman"):
        r = ratio(b, by.get(peer))
        if r is not None:
            print(f"berth/{peer} run = {r:.2f}")
    if b and b.idle:
        ok = "ok" if b.idle[0] / 1024 <= TARGET_IDLE_MB else "OVER"
        print(f"berth idle daemon RSS = {b.idle[0] / 1024:.1f} MB "
              f"(target <= {TARGET_IDLE_MB:g}) {ok}")
    if b and b.per_container:
        ok = "ok" if b.per_container[0] / 1024 <= TARGET_PER_CONTAINER_MB else "OVER"
        print(f"berth per-container RSS = {b.per_container[0] / 1024:.2f} MB "
              f"(target <= {TARGET_PER_CONTAINER_MB:g}) {ok}")
    r = ratio(b, by.get("dockerd"))
    failed = any(e.error for e in engines)
    print(f"run: berth/dockerd = {'n/a' if r is None else f'{r:.2f}'} (target <= {TARGET_RUN:g})")
    return 1 if failed or r is None else 0


if __name__ == "__main__":
    sys.exit(main())
