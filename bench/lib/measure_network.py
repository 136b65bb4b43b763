#!/usr/bin/python3
"""bench/network's measurements, on engines that bench/network has started.

An engine is NAME|DOCKER_HOST|NETNS|PIDS|VERSION: NETNS is the network namespace the engine
runs in ("the host" for its published ports and the iperf3 client), PIDS the daemon's
processes whose peak RSS (VmHWM) is reported, comma-separated.

(a) `docker run --rm [--network none|BRIDGE] IMAGE true`, engines and both modes alternating,
    N timed runs each after WARMUP: the median of each and their difference, the bridge cost.
(b) for the engines named in --throughput: iperf3 (TCP, --seconds per run, median of --reps)
    container -> container over a user network (by name), host -> container address (direct),
    host -> published port on the namespace's other address (DNAT) and on 127.0.0.1.

Prints a table and last `network: berth/dockerd = R (target <= 0.15)`, R = berth's bridge
cost / dockerd's.
"""

import argparse
import json
import os
import statistics
import subprocess
import time

TARGET = 0.15


class Engine:
    def __init__(self, spec):
        self.name, self.host, self.netns, pids, self.version = spec.split("|", 4)
        self.pids = [int(p) for p in pids.split(",") if p]
        self.times = {"none": [], "bridge": []}
        self.error = None
        self.tput = {}
        self.tput_error = None

    def docker(self, args, docker_bin, check=True, timeout=120):
        env = dict(os.environ, DOCKER_HOST=self.host)
        r = subprocess.run([docker_bin] + args, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} exited {r.returncode}: "
                               f"{r.stderr.decode(errors='replace').strip()}")
        return r.stdout.decode().strip()

    def on_host(self, args, timeout=120):
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}"] + args,
                              capture_output=True, timeout=timeout)

    def peak_rss_mb(self):
        total = 0
        for p in self.pids:
            try:
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024


def iperf(e, docker_bin, image, seconds, reps, out):
    """Fills e.tput[path] with the median Gbit/s of each path."""
    net = "benchnet"
    e.docker(["network", "create", net], docker_bin)
    e.docker(["run", "-d", "--name", "iperf-srv", "--network", net, "-p", "15201:5201",
              image, "iperf3", "-s"], docker_bin)
    ip = e.docker(["inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % net,
                   "iperf-srv"], docker_bin)
    time.sleep(0.5)

    def gbps(stdout):
        j = json.loads(stdout)
        return j["end"]["sum_received"]["bits_per_second"] / 1e9

    paths = {
        "container->container (user network, by name)":
            lambda: e.docker(["run", "--rm", "--network", net, image, "iperf3", "-J", "-c",
                              "iperf-srv", "-t", str(seconds)], docker_bin, timeout=seconds + 60),
        "host->container address (direct)":
            lambda: host_iperf(e, ip, 5201, seconds),
        f"host->published port on {out} (DNAT)":
            lambda: host_iperf(e, out, 15201, seconds),
        "host->published port on 127.0.0.1":
            lambda: host_iperf(e, "127.0.0.1", 15201, seconds),
    }
    for name, fn in paths.items():
        vals = []
        for _ in range(reps):
            vals.append(gbps(fn()))
        e.tput[name] = statistics.median(vals)
    e.docker(["rm", "-f", "iperf-srv"], docker_bin)
    e.docker(["network", "rm", net], docker_bin)


def host_iperf(e, addr, port, seconds):
    r = e.on_host(["iperf3", "-J", "-c", addr, "-p", str(port), "-t", str(seconds)],
                  timeout=seconds + 60)
    if r.returncode != 0:
        raise RuntimeError(f"iperf3 -c {addr}:{port} from the host: {r.stdout.decode()[-300:]} "
                           f"{r.stderr.decode()[-300:]}")
    return r.stdout.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--docker", default="/usr/local/bin/docker")
    ap.add_argument("--image", default="busybox:latest")
    ap.add_argument("--iperf-image", default="iperf3:bench")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--outside", required=True, help="the namespaces' other address")
    ap.add_argument("--throughput", default="berth,dockerd")
    ap.add_argument("--engine", action="append", required=True)
    ap.add_argument("--failed", action="append", default=[],
                    help="NAME|WHY: an engine that did not start, shown as an error row")
    a = ap.parse_args()
    engines = [Engine(s) for s in a.engine]
    for f in a.failed:
        name, why = f.split("|", 1)
        e = Engine(f"{name}||||")
        e.error = f"did not start: {why}"
        engines.insert(0, e)
    modes = {"none": ["--network", "none"], "bridge": ["--network", "bridge"]}

    def once(e, mode, record):
        if e.error:
            return
        t0 = time.perf_counter()
        try:
            e.docker(["run", "--rm"] + modes[mode] + [a.image, "true"], a.docker)
        except Exception as ex:  # noqa: BLE001 - reported in the table
            e.error = f"{mode}: {ex}"
            return
        if record:
            e.times[mode].append((time.perf_counter() - t0) * 1000)

    for _ in range(a.warmup):
        for e in engines:
            for m in modes:
                once(e, m, False)
    for i in range(a.n):
        for e in engines:
            for m in (list(modes) if i % 2 == 0 else list(reversed(list(modes)))):
                once(e, m, True)

    for e in engines:
        if e.name in a.throughput.split(",") and not e.error:
            try:
                iperf(e, a.docker, a.iperf_image, a.seconds, a.reps, a.outside)
            except Exception as ex:  # noqa: BLE001 - reported in the table
                e.tput_error = str(ex)

    print(f"\n(a) docker run --rm {a.image} true: median wall ms of {a.n} runs after {a.warmup} warm-up")
    print(f"{'engine':<8} {'--network none':>15} {'default bridge':>15} {'bridge adds':>12} "
          f"{'peak RSS MB':>12}  version")
    added = {}
    for e in engines:
        if e.error:
            print(f"{e.name:<8} error: {e.error}")
            continue
        none, br = statistics.median(e.times["none"]), statistics.median(e.times["bridge"])
        added[e.name] = br - none
        print(f"{e.name:<8} {none:>15.1f} {br:>15.1f} {br - none:>12.1f} {e.peak_rss_mb():>12.1f}"
              f"  {e.version}")
    print("(peak RSS: VmHWM of the daemon's processes over the whole run, iperf3 included)")

    print(f"\n(b) iperf3 TCP, Gbit/s, median of {a.reps} runs of {a.seconds} s")
    for e in engines:
        if e.name not in a.throughput.split(","):
            continue
        if e.error or e.tput_error:
            print(f"{e.name:<8} error: {e.error or e.tput_error}")
            continue
        for path, v in e.tput.items():
            print(f"{e.name:<8} {path:<48} {v:8.2f}")
        direct = e.tput["host->container address (direct)"]
        dnat = e.tput[f"host->published port on {a.outside} (DNAT)"]
        print(f"{e.name:<8} published (DNAT) / direct = {dnat / direct:.2f} (target >= 0.8)")
    b, d = engines_by(engines, "berth"), engines_by(engines, "dockerd")
    if b and d and not b.tput_error and not d.tput_error and b.tput and d.tput:
        key = "container->container (user network, by name)"
        print(f"berth/dockerd container->container throughput = {b.tput[key] / d.tput[key]:.2f} "
              f"(target >= 1.0)")

    if "berth" in added and "dockerd" in added and added["dockerd"] > 0:
        print(f"network: berth/dockerd = {added['berth'] / added['dockerd']:.2f} (target <= {TARGET})")
        return 0
    print(f"network: berth/dockerd = n/a (target <= {TARGET})")
    return 1


def engines_by(engines, name):
    return next((e for e in engines if e.name == name), None)


if __name__ == "__main__":
    raise SystemExit(main())
