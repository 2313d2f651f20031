#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Measures a peer's forwarding rate the way bench_dataplane measures ours: the sink port's
transmitted packets over windows of a few seconds, and, in each window, the share of the
time the forwarding thread was on its CPU (the machine is shared: a thread that waits for
its CPU forwards nothing meanwhile).

  sample.py NAME WINDOWS WINDOW_S telemetry SOCKET PORT
      a DPDK process (dpdk-testpmd): ethdev PORT's opackets through the telemetry socket;
      the forwarding thread is the EAL worker lcore (rte-worker-*)
  sample.py NAME WINDOWS WINDOW_S ovs PIDFILE BRIDGE PORT
      ovs-vswitchd: `ovs-ofctl dump-ports BRIDGE PORT`; the thread is the PMD (pmd-*)

Waits until the counter moves, then two seconds more (warm-up), then prints one line per
window: `NAME <Mpps> <on-CPU share>`. Exits 1 if the sink sends nothing.
"""
import json
import os
import signal
import re
import socket
import subprocess
import sys
import time


def telemetry_source(path, port):
    for _ in range(300):
        if os.path.exists(path):
            break
        time.sleep(0.1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    pid = json.loads(s.recv(4096))["pid"]

    def count():
        s.send(("/ethdev/stats,%d" % port).encode())
        return json.loads(s.recv(65536))["/ethdev/stats"]["opackets"]

    return pid, "rte-worker", count


def ovs_source(pidfile, bridge, port):
    pid = int(open(pidfile).read())

    def count():
        out = subprocess.run(["ovs-ofctl", "dump-ports", bridge, port], capture_output=True,
                             text=True, check=True).stdout
        return int(re.search(r"tx pkts=(\d+)", out).group(1))

    return pid, "pmd", count


def thread_of(pid, prefix):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().startswith(prefix):
                return tid
    return None


def run_ns(pid, tid):
    """Nanoseconds the thread has run (schedstat's first field), or None."""
    if tid is None:
        return None
    try:
        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
            return int(f.read().split()[0])
    except OSError:
        return None


def main():
    # Die of SIGINT rather than raise: the shell that runs us then stops too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    name, windows, window_s, kind = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    if kind == "telemetry":
        pid, prefix, count = telemetry_source(sys.argv[5], int(sys.argv[6]))
    else:
        pid, prefix, count = ovs_source(sys.argv[5], sys.argv[6], sys.argv[7])
    start = count()
    for _ in range(300):
        if count() > start:
            break
        time.sleep(0.1)
    else:
        sys.exit("sample.py: %s: the sink sends nothing" % name)
    time.sleep(2)
    tid = thread_of(pid, prefix)
    for _ in range(windows):
        c0, r0, t0 = count(), run_ns(pid, tid), time.monotonic()
        time.sleep(window_s)
        c1, r1, t1 = count(), run_ns(pid, tid), time.monotonic()
        oncpu = (r1 - r0) / 1e9 / (t1 - t0) if r0 is not None and r1 is not None else 0
        print("%s %.4f %.3f" % (name, (c1 - c0) / (t1 - t0) / 1e6, oncpu), flush=True)


if __name__ == "__main__":
    main()
