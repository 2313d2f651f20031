#!/usr/bin/python3
"""A UDP stream with sequence numbers, for checking that nothing is lost or duplicated.

  udpseq.py send DST_IP PORT RATE COUNT     send COUNT datagrams at RATE per second
  udpseq.py recv PORT OUT [IDLE_S]          write each received sequence number to OUT;
                                            stop on SIGTERM/SIGINT (after draining the
                                            socket) or after IDLE_S seconds without data
  udpseq.py check OUT... COUNT              every number 0..COUNT-1 exactly once over
                                            the files; prints the figures, exits 1 if not
"""
import signal
import socket
import struct
import sys
import time

PAYLOAD = 64


def send(dst, port, rate, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for seq in range(count):
        due = start + seq / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        s.sendto(struct.pack("!Q", seq).ljust(PAYLOAD, b"\0"), (dst, port))
    print(f"udpseq: sent {count} datagrams to {dst}:{port} in {time.monotonic() - start:.2f} s",
          flush=True)


def recv(port, out, idle):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    seqs = []
    s.settimeout(0.05)
    last = time.monotonic()
    while not stop and time.monotonic() - last < idle:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        seqs.append(struct.unpack("!Q", data[:8])[0])
        last = time.monotonic()
    # Drain what is already queued: it was delivered before we were told to stop.
    s.setblocking(False)
    while True:
        try:
            seqs.append(struct.unpack("!Q", s.recv(2048)[:8])[0])
        except (BlockingIOError, InterruptedError):
            break
    with open(out, "w") as f:
        f.write("".join(f"{q}\n" for q in seqs))


def check(files, count):
    seen = {}
    per_file = []
    for name in files:
        with open(name) as f:
            nums = [int(line) for line in f if line.strip()]
        per_file.append(len(nums))
        for q in nums:
            seen[q] = seen.get(q, 0) + 1
    lost = [q for q in range(count) if q not in seen]
    dups = sum(n - 1 for n in seen.values() if n > 1)
    stray = [q for q in seen if q >= count]
    print(f"udpseq: {count} sent, received {per_file} by receiver, lost {len(lost)}, "
          f"duplicated {dups}, unexpected {len(stray)}")
    if lost:
        print(f"udpseq: first lost: {lost[:10]}")
    return 0 if not lost and not dups and not stray else 1


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "send" and len(sys.argv) == 6:
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "recv" and len(sys.argv) in (4, 5):
        recv(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]) if len(sys.argv) == 5 else 3600)
    elif cmd == "check" and len(sys.argv) >= 4:
        sys.exit(check(sys.argv[2:-1], int(sys.argv[-1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
