#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A tap on QMP monitor sockets: a proxy that logs both directions, line by line.

Each tapped monitor has a tag (e.g. "src", "dst"). The tap listens on a unix socket,
accepts one client, connects it to QEMU's monitor socket and forwards bytes both ways.
Every complete line goes to one shared log, in the order the tap saw them:

    src <- {...}     QEMU -> client (greeting, replies, events)
    src -> {...}     client -> QEMU (commands)
    src !close       QEMU closed the monitor (it quit, crashed or was killed)

That is the replay format of tests/migrate/fake_qmp.c. Usable standalone:

    qmp_tap.py LOG TAG:LISTEN_PATH:QEMU_PATH [TAG:LISTEN_PATH:QEMU_PATH ...]

or imported (record_scenarios.py does): Tap(log).add(tag, listen, upstream).
"""
import os
import socket
import sys
import threading
import time


class Tap:
    def __init__(self, log):
        self.log = log
        self.lock = threading.Lock()
        self.threads = []

    def write(self, tag, direction, line):
        with self.lock:
            self.log.write(f"{tag} {direction} {line}\n" if line is not None
                           else f"{tag} {direction}\n")
            self.log.flush()

    def comment(self, text):
        with self.lock:
            for line in text.splitlines():
                self.log.write(f"# {line}\n".replace("# \n", "#\n"))
            self.log.flush()

    def add(self, tag, listen_path, upstream_path, connect_timeout=5.0):
        """Listens on listen_path now; a thread accepts one client and proxies it."""
        if os.path.exists(listen_path):
            os.unlink(listen_path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(listen_path)
        srv.listen(1)
        t = threading.Thread(target=self._serve, daemon=True,
                             args=(tag, srv, upstream_path, connect_timeout))
        t.start()
        self.threads.append(t)

    def _serve(self, tag, srv, upstream_path, connect_timeout):
        client, _ = srv.accept()
        srv.close()
        deadline = time.monotonic() + connect_timeout
        while True:
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(upstream_path)
                break
            except OSError:
                up.close()
                if time.monotonic() > deadline:
                    client.close()
                    self.write(tag, "!close", None)
                    return
                time.sleep(0.02)
        closed_by_client = threading.Event()
        down = threading.Thread(target=self._pump, daemon=True,
                                args=(tag, "->", client, up, False, closed_by_client))
        down.start()
        self._pump(tag, "<-", up, client, True, closed_by_client)
        down.join(timeout=2)

    def _pump(self, tag, direction, src, dst, from_qemu, closed_by_client):
        buf = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.write(tag, direction, line.rstrip(b"\r").decode("utf-8", "replace"))
            try:
                dst.sendall(data)
            except OSError:
                break
        if buf:
            self.write(tag, direction, buf.decode("utf-8", "replace"))
        if from_qemu and not closed_by_client.is_set():
            # QEMU ended the session: it quit, crashed or was killed.
            self.write(tag, "!close", None)
        if not from_qemu:
            closed_by_client.set()
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], "w") as log:
        tap = Tap(log)
        for spec in argv[2:]:
            tag, listen_path, upstream = spec.split(":", 2)
            tap.add(tag, listen_path, upstream)
        for t in tap.threads:
            t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
