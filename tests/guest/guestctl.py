#!/usr/bin/python3
"""Client side of vmfabric's test guest: talks to guestd and to QEMU's QMP.

  guestctl.py udp-echo IP [COUNT [PORT]]   send COUNT (5) datagrams with sequence numbers
                                           to guestd's UDP echo, check each comes back once
  guestctl.py tcp-echo IP [LINES [PORT]]   one connection, LINES (3) lines, each echoed
  guestctl.py ctl IP COMMAND...            a control command (port 7002), print the answer
  guestctl.py qmp SOCK JSON...             each JSON command in turn on QMP socket SOCK
                                           (after qmp_capabilities); print each return
  guestctl.py pause SOCK MS                pause the guest for MS milliseconds on its host
                                           (QMP stop, cont); print when, as JSON
  guestctl.py migrate SRC_QMP DST_QMP URI [--downtime-ms N] [--bandwidth-mbps N]
                                           [--timeout S]
                                           migrate the guest: migrate-incoming on the
                                           target, pause-before-switchover on the source,
                                           migrate-continue at pre-switchover; prints the
                                           timings as JSON and waits for RESUME on the target
Run it inside the guest's network namespace (ip netns exec) for the network commands.
"""
import json
import socket
import struct
import sys
import time

UDP_PORT = 7000
TCP_PORT = 7001
CTL_PORT = 7002


def udp_echo(ip, count=5, port=UDP_PORT, timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    for seq in range(count):
        s.sendto(struct.pack("!Q", seq) + b"vmfabric-udp-echo", (ip, port))
    seen = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(seen) < count:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        q = struct.unpack("!Q", data[:8])[0]
        seen[q] = seen.get(q, 0) + 1
    # Late duplicates, if any.
    s.settimeout(0.2)
    try:
        while True:
            data = s.recv(2048)
            q = struct.unpack("!Q", data[:8])[0]
            seen[q] = seen.get(q, 0) + 1
    except socket.timeout:
        pass
    lost = [q for q in range(count) if q not in seen]
    dups = sum(n - 1 for n in seen.values() if n > 1)
    print(f"udp-echo: {count} sent, {sum(seen.values())} back, lost {len(lost)}, duplicated {dups}")
    return 0 if not lost and not dups and len(seen) == count else 1


def tcp_echo(ip, lines=3, port=TCP_PORT):
    s = socket.create_connection((ip, port), timeout=5)
    f = s.makefile("rwb")
    bad = 0
    for i in range(lines):
        line = f"vmfabric line {i} {'x' * i}\n".encode()
        f.write(line)
        f.flush()
        back = f.readline()
        if back != line:
            bad += 1
            print(f"tcp-echo: sent {line!r}, got {back!r}")
    s.close()
    print(f"tcp-echo: {lines} lines, {lines - bad} echoed")
    return 0 if bad == 0 else 1


def ctl(ip, command, port=CTL_PORT, timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(command.encode(), (ip, port))
    answer = s.recv(2048).decode()
    print(answer)
    return 0 if not answer.startswith("error") else 1


class Qmp:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.f = self.sock.makefile("rw")
        self.events = []
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise EOFError("QMP connection closed")
        msg = json.loads(line)
        if "event" in msg:
            msg["_t"] = time.monotonic()
            self.events.append(msg)
        return msg

    def cmd(self, execute, **arguments):
        req = {"execute": execute}
        if arguments:
            req["arguments"] = arguments
        return self.raw(req)

    def raw(self, req):
        self.f.write(json.dumps(req) + "\n")
        self.f.flush()
        while True:
            msg = self._read()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise RuntimeError(f"QMP {req.get('execute')}: {msg['error'].get('desc')}")

    def wait_event(self, pred, timeout):
        """First event (seen before or arriving within timeout) for which pred is true."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if pred(ev):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                self._read()
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(30.0)

    def close(self):
        self.sock.close()


def qmp(path, commands):
    q = Qmp(path)
    rc = 0
    for c in commands:
        req = json.loads(c)
        try:
            print(json.dumps(q.raw(req)))
        except (RuntimeError, EOFError) as e:
            print(e, file=sys.stderr)
            # quit closes the connection before or right after its return.
            if req.get("execute") != "quit":
                rc = 1
    q.close()
    return rc


def pause(path, ms):
    """Pauses the guest for `ms` milliseconds where it runs (no migration)."""
    q = Qmp(path)
    t_stop = time.time()
    q.cmd("stop")
    time.sleep(ms / 1000)
    t_cont = time.time()
    q.cmd("cont")
    t_running = time.time()
    q.close()
    print(json.dumps({"stop_unix": round(t_stop, 4), "cont_unix": round(t_cont, 4),
                      "running_unix": round(t_running, 4),
                      "paused_ms": round((t_running - t_stop) * 1000, 1)}))
    return 0


def migrate(src_path, dst_path, uri, downtime_ms=300, bandwidth_mbps=0, timeout=120.0):
    """One precopy migration with pause-before-switchover. Returns a dict of timings."""
    src = Qmp(src_path)
    dst = Qmp(dst_path)
    caps = [{"capability": "events", "state": True}]
    dst.cmd("migrate-set-capabilities", capabilities=caps)
    dst.cmd("migrate-incoming", uri=uri)
    src.cmd("migrate-set-capabilities",
            capabilities=caps + [{"capability": "pause-before-switchover", "state": True}])
    params = {"downtime-limit": downtime_ms}
    if bandwidth_mbps:
        params["max-bandwidth"] = int(bandwidth_mbps * 1e6 / 8)
    else:
        params["max-bandwidth"] = 10 * 1000 * 1000 * 1000  # bytes/s: unlimited in practice
    src.cmd("migrate-set-parameters", **params)
    t0 = time.monotonic()
    src.cmd("migrate", uri=uri)
    res = {"ok": False}

    def mig(status):
        return lambda ev: ev["event"] == "MIGRATION" and ev["data"]["status"] == status

    while True:
        ev = src.wait_event(lambda ev: ev["event"] == "MIGRATION" and ev["data"]["status"] in
                            ("pre-switchover", "failed", "cancelled"), timeout)
        if ev is None:
            res["error"] = "no pre-switchover within timeout"
            src.cmd("migrate_cancel")
            break
        if ev["data"]["status"] != "pre-switchover":
            res["error"] = f"source migration {ev['data']['status']}"
            break
        stop = src.wait_event(lambda ev: ev["event"] == "STOP", 5)
        t_stop = stop["_t"] if stop else ev["_t"]
        t_pre = ev["_t"]
        src.cmd("migrate-continue", state="pre-switchover")
        done = src.wait_event(lambda ev: ev["event"] == "MIGRATION" and ev["data"]["status"] in
                              ("completed", "failed"), timeout)
        resume = dst.wait_event(lambda ev: ev["event"] == "RESUME", timeout)
        info = src.cmd("query-migrate")
        res.update(ok=bool(done and done["data"]["status"] == "completed" and resume),
                   total_ms=info.get("total-time"), downtime_ms=info.get("downtime"),
                   setup_ms=info.get("setup-time"),
                   stop_to_pre_ms=round((t_pre - t_stop) * 1000, 1),
                   stop_to_resume_ms=round((resume["_t"] - t_stop) * 1000, 1) if resume else None,
                   precopy_s=round(t_stop - t0, 2),
                   ram=info.get("ram", {}))
        if not res["ok"]:
            res["error"] = f"source {done['data']['status'] if done else 'no end'}, resume {bool(resume)}"
        break
    src.close()
    dst.close()
    return res


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "udp-echo" and 1 <= len(args) <= 3:
        return udp_echo(args[0], *(int(a) for a in args[1:]))
    if cmd == "tcp-echo" and 1 <= len(args) <= 3:
        return tcp_echo(args[0], *(int(a) for a in args[1:]))
    if cmd == "ctl" and len(args) >= 2:
        return ctl(args[0], " ".join(args[1:]))
    if cmd == "qmp" and len(args) >= 2:
        return qmp(args[0], args[1:])
    if cmd == "pause" and len(args) == 2:
        return pause(args[0], float(args[1]))
    if cmd == "migrate" and len(args) >= 3:
        opts = {"--downtime-ms": 300, "--bandwidth-mbps": 0, "--timeout": 120.0}
        rest = args[3:]
        while rest:
            if rest[0] not in opts or len(rest) < 2:
                sys.exit(__doc__)
            opts[rest[0]] = float(rest[1])
            rest = rest[2:]
        res = migrate(args[0], args[1], args[2], int(opts["--downtime-ms"]),
                      opts["--bandwidth-mbps"], opts["--timeout"])
        print(json.dumps(res))
        return 0 if res["ok"] else 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
