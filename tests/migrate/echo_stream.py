#!/usr/bin/python3
"""The client of the migration tests: a UDP echo stream and a TCP connection to guestd.

  echo_stream.py IP RATE OUT [--tcp] [--udp-port 7000] [--tcp-port 7001]

Sends datagrams with sequence numbers to guestd's UDP echo (IP:7000) at RATE per second
until SIGTERM/SIGINT, then waits 3 s for the last echoes. With --tcp it also holds one TCP
connection to guestd's echo (IP:7001) and sends a numbered line every 50 ms on it, each
of which must come back in order. Writes OUT (JSON) at the end:
  sent, received (distinct echoed sequence numbers), lost, duplicates, reordered,
  longest_gap_ms (the longest time between two echoes while sending), gap_start_s (when
  that gap began, seconds since the start), gaps (every gap over 5 ms as [unix time it
  began, ms], the first 500), tcp_lines_sent, tcp_lines_echoed, tcp_ok
  (the connection stayed up and echoed every line in order), tcp_error.
Prints "echo-stream: started" once the first echo came back (scripts wait for it).
"""
import json
import signal
import socket
import struct
import sys
import threading
import time


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ip, rate, out = args[0], float(args[1]), args[2]
    want_tcp = "--tcp" in args
    udp_port = int(args[args.index("--udp-port") + 1]) if "--udp-port" in args else 7000
    tcp_port = int(args[args.index("--tcp-port") + 1]) if "--tcp-port" in args else 7001

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.connect((ip, udp_port))
    s.settimeout(0.05)
    seen = {}
    state = {"sent": 0, "last": None, "gap": 0.0, "gap_at": 0.0, "started": False,
             "sending": True, "reordered": 0, "max_seq": -1, "gaps": []}
    t0 = time.monotonic()
    t0_wall = time.time()

    def receiver():
        while True:
            try:
                data = s.recv(2048)
            except socket.timeout:
                if stop.is_set() and not state["sending"] and time.monotonic() > state["drain_until"]:
                    return
                continue
            except OSError:
                continue
            now = time.monotonic()
            q = struct.unpack("!Q", data[:8])[0]
            if q >= 1 << 63:
                continue  # a late answer to the warm-up probe
            seen[q] = seen.get(q, 0) + 1
            if q < state["max_seq"]:
                state["reordered"] += 1
            state["max_seq"] = max(state["max_seq"], q)
            if state["last"] is not None and state["sending"]:
                g = now - state["last"]
                if g > state["gap"]:
                    state["gap"], state["gap_at"] = g, state["last"] - t0
                if g > 0.005 and len(state["gaps"]) < 500:
                    state["gaps"].append([round(t0_wall + state["last"] - t0, 4), round(g * 1000, 3)])
            state["last"] = now
            if not state["started"]:
                state["started"] = True
                print("echo-stream: started", flush=True)

    # Warm up: one probe echoed before the numbered stream, so that the client's ARP entry
    # for the guest exists (the kernel keeps only 3 datagrams while it resolves).
    probe = struct.pack("!Q", 1 << 63).ljust(64, b"\0")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s.send(probe)
        try:
            if s.recv(2048)[:8] == probe[:8]:
                break
        except (socket.timeout, OSError):
            pass
    else:
        print("echo-stream: the guest does not answer", flush=True)
        return 1
    t0 = time.monotonic()
    t0_wall = time.time()
    state["drain_until"] = float("inf")
    rt = threading.Thread(target=receiver, daemon=True)
    rt.start()

    tcp = {"sent": 0, "echoed": 0, "ok": want_tcp, "error": ""}

    def tcp_loop():
        try:
            c = socket.create_connection((ip, tcp_port), timeout=10)
            c.settimeout(10)
            f = c.makefile("rwb")
            while not stop.is_set():
                n = tcp["sent"]
                f.write(b"line %d\n" % n)
                f.flush()
                tcp["sent"] += 1
                back = f.readline()
                if back != b"line %d\n" % n:
                    raise RuntimeError(f"line {n} came back as {back!r}")
                tcp["echoed"] += 1
                stop.wait(0.05)
            c.close()
        except Exception as e:  # noqa: BLE001 - reported in the result
            tcp["ok"] = False
            tcp["error"] = str(e) or type(e).__name__

    tt = None
    if want_tcp:
        tt = threading.Thread(target=tcp_loop, daemon=True)
        tt.start()

    # Paced in 1 ms slots so that Python keeps up at thousands per second.
    seq = 0
    while not stop.is_set():
        due = int((time.monotonic() - t0) * rate)
        while seq < due:
            try:
                s.send(struct.pack("!Q", seq).ljust(64, b"\0"))
            except OSError:
                pass  # e.g. no route for a moment: the datagram counts as sent and lost
            seq += 1
        time.sleep(0.001)
    state["sent"] = seq
    state["sending"] = False
    state["drain_until"] = time.monotonic() + 3.0
    rt.join()
    if tt:
        tt.join(timeout=12)
    lost = [q for q in range(seq) if q not in seen]
    # The lost sequence numbers as ranges, each with the wall-clock time it began.
    ranges = []
    for q in lost:
        if ranges and ranges[-1][1] == q - 1:
            ranges[-1][1] = q
        else:
            ranges.append([q, q])
    result = {
        "sent": seq,
        "received": len(seen),
        "lost": len(lost),
        "lost_ranges": [[a, b, time.strftime("%H:%M:%S", time.localtime(t0_wall + a / rate)) +
                         f".{int((t0_wall + a / rate) % 1 * 1000):03d}"] for a, b in ranges[:10]],
        "gap_start_wall": time.strftime("%H:%M:%S", time.localtime(t0_wall + state["gap_at"])) +
        f".{int((t0_wall + state['gap_at']) % 1 * 1000):03d}",
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "reordered": state["reordered"],
        "longest_gap_ms": round(state["gap"] * 1000, 3),
        "gap_start_s": round(state["gap_at"], 3),
        "gaps": state["gaps"],
        "tcp_lines_sent": tcp["sent"],
        "tcp_lines_echoed": tcp["echoed"],
        "tcp_ok": tcp["ok"] and tcp["echoed"] >= tcp["sent"] - 1 and tcp["sent"] > 0,
        "tcp_error": tcp["error"],
    }
    with open(out, "w") as f:
        json.dump(result, f)
    print("echo-stream: " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
