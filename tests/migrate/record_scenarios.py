#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Records real QMP exchanges with QEMU for the replay tests (tests/migrate/test_qmp.c).

Starts QEMU instances, puts qmp_tap.Tap between them and a small QMP driver, runs one
scenario per recording and writes OUTDIR/<scenario>.qmp. record.sh is the entry point.

The commands sent here are the ones tests/migrate/test_qmp.c sends through the C client
when it replays a recording: change one side and the other must follow (the replayer
compares every command with the recorded one, ids aside).

    record_scenarios.py OUTDIR [SCENARIO ...]
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_tap import Tap  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
MiB = 1024 * 1024

# The guest: Debian's cloud kernel and a busybox initramfs that dirties 4 MiB of tmpfs
# every 100 ms, so pre-copy needs several passes and dirty-pages-rate is not zero. The
# guest is optional: without it the firmware idles and memory migrates all the same.
GUEST_INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t tmpfs -o size=16m tmpfs /tmp
echo GUEST-READY
while true; do
  /bin/busybox dd if=/dev/urandom of=/tmp/x bs=64k count=64 2>/dev/null
  /bin/busybox usleep 100000
done
"""


def find_kernel():
    for name in sorted(os.listdir("/boot"), reverse=True):
        if name.startswith("vmlinuz-") and name.endswith("-cloud-amd64"):
            return os.path.join("/boot", name)
    return None


def build_initramfs(tmp):
    root = os.path.join(tmp, "initramfs")
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    with open(os.path.join(root, "init"), "w") as f:
        f.write(GUEST_INIT)
    os.chmod(os.path.join(root, "init"), 0o755)
    out = os.path.join(tmp, "guest.cpio.gz")
    subprocess.run(f"cd {root} && find . | cpio -o -H newc 2>/dev/null | gzip > {out}",
                   shell=True, check=True)
    return out


class Qemu:
    def __init__(self, tmp, name, kernel=None, initrd=None, incoming=False):
        self.name = name
        self.sock = os.path.join(tmp, f"{name}.qmp.sock")
        self.serial = os.path.join(tmp, f"{name}.serial")
        args = [QEMU, "-nodefaults", "-accel", "tcg", "-cpu", "qemu64", "-m", "128",
                "-smp", "1", "-display", "none", "-monitor", "none",
                "-serial", f"file:{self.serial}",
                "-qmp", f"unix:{self.sock},server=on,wait=off"]
        if kernel:
            args += ["-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet"]
        if incoming:
            args += ["-incoming", "defer"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(tmp, f"{name}.stderr"), "w"))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{name}: QEMU did not create {self.sock}")
            time.sleep(0.02)

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.serial) as f:
                    if "GUEST-READY" in f.read():
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: the guest did not print its ready line")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Monitor:
    """A minimal QMP client (the recording's other end); ids are rec-1, rec-2, ..."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile("rwb")
        self.next_id = 0
        self.events = []
        greeting = self._read()
        assert "QMP" in greeting, greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise EOFError("monitor closed")
        return json.loads(line)

    def cmd(self, name, args=None, error_ok=False):
        self.next_id += 1
        msg = {"execute": name, "id": f"rec-{self.next_id}"}
        if args is not None:
            msg["arguments"] = args
        self.f.write((json.dumps(msg) + "\n").encode())
        self.f.flush()
        while True:
            m = self._read()
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m and not error_ok:
                raise RuntimeError(f"{name}: {m['error']}")
            return m

    def wait_event(self, name, status=None, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            while self.events:
                ev = self.events.pop(0)
                if ev["event"] == name and (status is None
                                            or ev.get("data", {}).get("status") == status):
                    return ev
                if ev["event"] == "MIGRATION" and ev["data"]["status"] in ("failed",
                                                                           "cancelled"):
                    if status != ev["data"]["status"]:
                        raise RuntimeError(f"migration {ev['data']['status']}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} {status or ''}")
            self.events.append(self._read())

    def wait_closed(self, timeout=10):
        self.sock.settimeout(timeout)
        try:
            while True:
                self.events.append(self._read())
        except (EOFError, ConnectionResetError):
            pass


class Scenario:
    def __init__(self, outdir, name, guest):
        self.name = name
        # A fixed directory: the migration URI is part of the recorded commands, and the
        # replay tests send the same one.
        self.tmp = f"/tmp/vmf-rec-{name}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp)
        self.kernel, self.initrd = guest
        self.guest_used = False
        self.log = open(os.path.join(outdir, f"{name}.qmp"), "w")
        self.tap = Tap(self.log)
        self.vms = []
        self.mig_uri = f"unix:{os.path.join(self.tmp, 'migration.sock')}"

    def header(self, text, guest=True):
        ver = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
        guest = (f"Debian cloud kernel {os.path.basename(self.kernel)}, busybox initramfs "
                 "dirtying 4 MiB/100 ms" if guest and self.kernel
                 else "none (the firmware idles)")
        self.tap.comment(f"{self.name}: {text}\n"
                         f"Recorded by tests/migrate/record.sh from {ver.splitlines()[0]}\n"
                         "-nodefaults -accel tcg -cpu qemu64 -m 128 -smp 1; "
                         f"guest: {guest}\n"
                         "Format: TAG <- (from QEMU) / TAG -> (to QEMU) / TAG !close; "
                         "see tests/migrate/fake_qmp.h.\n"
                         f"Paths below were under {self.tmp}.")

    def start(self, tag, incoming=False, guest=True):
        kernel = self.kernel if guest else None
        vm = Qemu(self.tmp, tag, kernel, self.initrd, incoming)
        self.vms.append(vm)
        tap_path = os.path.join(self.tmp, f"{tag}.tap.sock")
        self.tap.add(tag, tap_path, vm.sock)
        return vm, tap_path

    def close(self):
        for vm in self.vms:
            vm.stop()
        time.sleep(0.2)  # let the tap log the last lines
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def basic(sc):
    sc.header("one monitor, no migration: every typed call and some errors QEMU gives",
              guest=False)
    vm, path = sc.start("vm", guest=False)
    m = Monitor(path)
    m.cmd("query-status")
    m.cmd("query-migrate")
    m.cmd("query-migrate-capabilities")
    m.cmd("query-migrate-parameters")
    m.cmd("migrate-set-parameters", {
        "downtime-limit": 50, "max-bandwidth": 256 * MiB, "max-postcopy-bandwidth": 0,
        "announce-initial": 50, "announce-max": 550, "announce-rounds": 5,
        "announce-step": 100, "cpu-throttle-initial": 30, "cpu-throttle-increment": 10,
        "max-cpu-throttle": 99})
    m.cmd("query-migrate-parameters")
    m.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "events", "state": True},
        {"capability": "pause-before-switchover", "state": True}]})
    m.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "no-such-capability", "state": True}]}, error_ok=True)
    m.cmd("migrate-set-parameters", {"downtime-limit": 3000000}, error_ok=True)
    m.cmd("migrate-continue", {"state": "pre-switchover"}, error_ok=True)
    m.cmd("migrate-start-postcopy", error_ok=True)
    m.cmd("migrate-incoming", {"uri": sc.mig_uri}, error_ok=True)
    m.cmd("x-vmf-no-such-command", error_ok=True)
    m.cmd("announce-self", {"initial": 50, "max": 550, "rounds": 5, "step": 100})
    m.cmd("stop")
    m.cmd("query-status")
    m.cmd("cont")
    m.cmd("migrate_cancel")
    m.cmd("quit")
    m.wait_closed()


def prepare_pair(sc, caps_both, caps_src, params, guest=True):
    src, src_path = sc.start("src", guest=guest)
    dst, dst_path = sc.start("dst", incoming=True, guest=guest)
    if guest and sc.kernel:
        src.wait_ready()
    d = Monitor(dst_path)
    s = Monitor(src_path)
    d.cmd("migrate-set-capabilities", {"capabilities": caps_both})
    d.cmd("migrate-incoming", {"uri": sc.mig_uri})
    s.cmd("migrate-set-capabilities", {"capabilities": caps_both + caps_src})
    s.cmd("migrate-set-parameters", params)
    return s, d, src, dst


EVENTS = [{"capability": "events", "state": True}]
PAUSE = [{"capability": "pause-before-switchover", "state": True}]
POSTCOPY = [{"capability": "postcopy-ram", "state": True}]


def precopy_pause(sc):
    sc.header("pre-copy with pause-before-switchover, migrate-continue at pre-switchover")
    s, d, _, _ = prepare_pair(sc, EVENTS, PAUSE,
                              {"downtime-limit": 10, "max-bandwidth": 64 * MiB})
    s.cmd("migrate", {"uri": sc.mig_uri})
    s.wait_event("MIGRATION", "active")
    time.sleep(0.5)
    s.cmd("query-migrate")
    s.wait_event("MIGRATION", "pre-switchover", timeout=60)
    s.cmd("query-migrate")
    s.cmd("query-status")
    s.cmd("migrate-continue", {"state": "pre-switchover"})
    s.wait_event("MIGRATION", "completed")
    s.cmd("query-migrate")
    d.wait_event("RESUME")
    d.wait_event("MIGRATION", "completed")
    d.cmd("query-migrate")
    d.cmd("query-status")
    s.cmd("query-status")
    s.cmd("quit")
    s.wait_closed()
    d.cmd("quit")
    d.wait_closed()


def cancelled(sc):
    sc.header("pre-copy at 1 MiB/s, cancelled by migrate_cancel while active")
    s, d, _, _ = prepare_pair(sc, EVENTS, PAUSE,
                              {"downtime-limit": 50, "max-bandwidth": 1 * MiB})
    s.cmd("migrate", {"uri": sc.mig_uri})
    s.wait_event("MIGRATION", "active")
    time.sleep(0.5)
    s.cmd("query-migrate")
    s.cmd("migrate_cancel")
    s.wait_event("MIGRATION", "cancelled")
    s.cmd("query-migrate")
    s.cmd("query-status")
    d.wait_closed()
    s.cmd("quit")
    s.wait_closed()


def postcopy(sc):
    sc.header("pre-copy at 4 MiB/s switched to post-copy by migrate-start-postcopy")
    s, d, _, _ = prepare_pair(sc, EVENTS + POSTCOPY, [],
                              {"downtime-limit": 50, "max-bandwidth": 4 * MiB})
    s.cmd("migrate", {"uri": sc.mig_uri})
    s.wait_event("MIGRATION", "active")
    time.sleep(0.5)
    s.cmd("query-migrate")
    s.cmd("migrate-start-postcopy")
    s.wait_event("MIGRATION", "postcopy-active")
    s.cmd("query-migrate")
    d.wait_event("RESUME")
    s.wait_event("MIGRATION", "completed", timeout=60)
    s.cmd("query-migrate")
    d.wait_event("MIGRATION", "completed")
    d.cmd("query-status")
    s.cmd("query-status")
    s.cmd("quit")
    s.wait_closed()
    d.cmd("quit")
    d.wait_closed()


def target_killed(sc):
    sc.header("pre-copy at 1 MiB/s; the target QEMU is killed (SIGKILL) while active")
    s, d, _, dst = prepare_pair(sc, EVENTS, PAUSE,
                                {"downtime-limit": 50, "max-bandwidth": 1 * MiB})
    s.cmd("migrate", {"uri": sc.mig_uri})
    s.wait_event("MIGRATION", "active")
    time.sleep(0.5)
    s.cmd("query-migrate")
    dst.proc.send_signal(signal.SIGKILL)
    dst.proc.wait()
    d.wait_closed()
    s.wait_event("MIGRATION", "failed")
    s.cmd("query-migrate")
    s.cmd("query-status")
    s.cmd("quit")
    s.wait_closed()


SCENARIOS = {
    "basic": basic,
    "precopy-pause": precopy_pause,
    "cancelled": cancelled,
    "postcopy": postcopy,
    "target-killed": target_killed,
}


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = argv[1]
    names = argv[2:] or list(SCENARIOS)
    kernel = find_kernel()
    gtmp = tempfile.mkdtemp(prefix="vmf-rec-guest.")
    try:
        guest = (kernel, build_initramfs(gtmp)) if kernel else (None, None)
        if not kernel:
            print("record: no /boot/vmlinuz-*-cloud-amd64, recording without a guest OS")
        for name in names:
            sc = Scenario(outdir, name, guest)
            try:
                print(f"record: {name}")
                SCENARIOS[name](sc)
            finally:
                sc.close()
    finally:
        shutil.rmtree(gtmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
