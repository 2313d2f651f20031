#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the BENCH lines of `bench/run dataplane` from what run.sh gathered.

usage: report.py WORKDIR UPDATE_MODES

WORKDIR/results holds one line per measurement window, `<case> <Mpps> [<on-CPU share>]`
(the share of the window the forwarding thread spent on its CPU), and `load_s`,
`load_per_s` lines; WORKDIR/ours.<mode>.updates and WORKDIR/mem hold bench_dataplane's
RESULT lines.
"""
import os
import signal
import statistics
import sys

# Die of SIGINT rather than raise: the shell that runs us then stops too.
signal.signal(signal.SIGINT, signal.SIG_DFL)
work, update_modes = sys.argv[1], sys.argv[2].split()
vals, per_cpu, oncpu = {}, {}, {}
for line in open(os.path.join(work, "results")):
    f = line.split()
    vals.setdefault(f[0], []).append(float(f[1]))
    if len(f) > 2 and float(f[2]) > 0.05:
        share = min(1.0, float(f[2]))
        oncpu.setdefault(f[0], []).append(share)
        per_cpu.setdefault(f[0], []).append(float(f[1]) / share)


def med(d, name):
    v = d.get(name)
    return statistics.median(v) if v else None


def out(name, value, unit, fmt="%.2f"):
    if value is not None:
        print("BENCH %s %s %s" % (name, fmt % value, unit))


def ratio(name, a, b):
    if a is not None and b:
        out(name, a / b, "x")


def result_lines(path):
    r = {}
    if os.path.exists(path):
        for line in open(path):
            f = line.split()
            if f and f[0] == "RESULT":
                r[f[1]] = float(f[2])
    return r


ours = ["encap", "decap", "forward"]
peers = ["testpmd_io", "testpmd_io_vxlan", "ovs_push", "ovs_pop"]
for n in ours + peers:
    v = vals.get(n)
    if v:
        print("# %-16s %2d windows: Mpps min %6.2f median %6.2f max %6.2f; forwarding thread "
              "on its CPU %3.0f%% of the time (median)"
              % (n, len(v), min(v), statistics.median(v), max(v), 100 * (med(oncpu, n) or 0)))

# Wall-clock Mpps: what the sink sent per second.
m = {n: med(vals, n) for n in ours + peers}
for n in ours + peers:
    out(n + "_mpps", m[n], "Mpps")
ratio("encap_vs_ovs", m["encap"], m["ovs_push"])
ratio("decap_vs_ovs", m["decap"], m["ovs_pop"])
ratio("encap_vs_testpmd", m["encap"], m["testpmd_io"])
ratio("decap_vs_testpmd", m["decap"], m["testpmd_io_vxlan"])
ratio("forward_vs_testpmd", m["forward"], m["testpmd_io_vxlan"])

# The same per second that the forwarding thread was on its CPU: other processes share these
# two CPUs, and this is closer to what a core of its own would do.
c = {n: med(per_cpu, n) for n in ours + peers}
for n in ours + peers:
    out(n + "_mpps_per_cpu_s", c[n], "Mpps")
ratio("encap_per_cpu_s_vs_ovs", c["encap"], c["ovs_push"])
ratio("decap_per_cpu_s_vs_ovs", c["decap"], c["ovs_pop"])
ratio("encap_per_cpu_s_vs_testpmd", c["encap"], c["testpmd_io"])
ratio("decap_per_cpu_s_vs_testpmd", c["decap"], c["testpmd_io_vxlan"])

# Drops under updates: each busy window against the quiet windows on either side of it, in
# the same process (bench_dataplane.c computes it); the worst mode is the headline.
worst = None
for mode in update_modes:
    r = result_lines(os.path.join(work, "ours.%s.updates" % mode))
    key = "%s_mpps_drop_under_updates_pct" % mode
    if key in r and (worst is None or r[key] > worst[1][worst[0]]):
        worst = (key, r, mode)
if worst is not None:
    key, r, mode = worst
    print("# the largest drop under updates: %s" % mode)
    out("mpps_drop_under_updates_pct", r[key], "%")
    out("mpps_per_cpu_s_drop_under_updates_pct",
        r.get("%s_mpps_per_cpu_s_drop_under_updates_pct" % mode), "%")
    out("updates_per_s", r["%s_updates_per_s" % mode] / 1e6, "M/s")
for mode in update_modes:
    r = result_lines(os.path.join(work, "ours.%s.updates" % mode))
    if "%s_mpps_drop_under_updates_pct" % mode not in r:
        continue
    out("%s_mpps_quiet_windows" % mode, r["%s_mpps" % mode], "Mpps")
    out("%s_mpps_under_updates" % mode, r["%s_mpps_under_updates" % mode], "Mpps")
    out("%s_mpps_drop_under_updates_pct" % mode, r["%s_mpps_drop_under_updates_pct" % mode], "%")
    out("%s_mpps_per_cpu_s_drop_under_updates_pct" % mode,
        r.get("%s_mpps_per_cpu_s_drop_under_updates_pct" % mode), "%")
    out("%s_updates_per_s" % mode, r["%s_updates_per_s" % mode] / 1e6, "M/s")
    # Drops that happened at all under updates (e.g. ARP requests for addresses that were
    # never removed): each is a frame the fabric should have forwarded.
    for line in open(os.path.join(work, "ours.%s.updates" % mode)):
        f = line.split()
        if f and f[0] == "DROP":
            print("# %s under updates: dropped %s: %s" % (mode, f[1], f[2]))

# Drops in the plain runs: there should be none.
for name in sorted(os.listdir(work)):
    if name.startswith("ours.") and not name.endswith((".updates", ".err")):
        for line in open(os.path.join(work, name)):
            f = line.split()
            if f and f[0] == "DROP":
                print("# %s: dropped %s: %s" % (name[5:], f[1], f[2]))

mem = result_lines(os.path.join(work, "mem"))
out("rss_mib_1m_endpoints", mem.get("rss_mib_1m_endpoints"), "MiB", "%.0f")
out("rss_mib_1m_endpoints_over_eal", mem.get("rss_mib_over_eal"), "MiB", "%.0f")
out("dpdk_heap_mib_1m_endpoints", mem.get("dpdk_heap_mib"), "MiB", "%.0f")
out("load_1m_endpoints_s", med(vals, "load_s"), "s")
if vals.get("load_per_s"):
    out("load_upserts_per_s", med(vals, "load_per_s") / 1e6, "M/s")
