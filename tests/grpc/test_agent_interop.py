#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""
Interoperability test of fabricd's gRPC Agent service against an independent gRPC
implementation: Debian's python3-grpcio (grpc core through Cython, its own HTTP/2 and TLS
client) with protobuf messages generated at test time by `protoc --python_out`. No
grpc_tools stubs: every method is called by its path.

Run as root (DPDK), with the interpreter that has grpcio:

    sudo /usr/bin/python3 tests/grpc/test_agent_interop.py \
        --fabricd build/plain/controlplane/fabricd/fabricd [--workdir DIR] [--prefix P] [-v]

or through tests/grpc/test_agent_interop.sh FABRICD, which also cleans up after a crash.

It starts fabricd instances with net_null ports (no network device needed):
  A  unix socket only: every RPC, filters, pages, errors, malformed payloads, streams,
     the lock on the socket path, graceful shutdown with streams open;
  B  unix socket + TCP on 127.0.0.1 with mutual TLS and --allow-peer controller-1;
  C  started on A's socket path while A runs: must refuse to start;
  D  a fresh instance for the empty UpsertEndpoints batch (kept apart: it crashed
     fabricd when this test was written).

Every check prints a PASS/FAIL line; the last line is exactly "N passed, M failed" and the
exit status is 0 only when M is 0. The test asserts the behaviour the API
(proto/fabric/v1/*.proto) promises, also where fabricd does not (yet) do it.
"""
import argparse
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# The client library's own log lines (handshake failures that the TLS checks cause on
# purpose) would only clutter the output.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
try:
    import grpc
except ImportError:
    print("SKIP: this python (%s) has no grpcio; run it with /usr/bin/python3 "
          "(Debian python3-grpcio)" % sys.executable)
    sys.exit(77)

SC = grpc.StatusCode
AGENT = "/fabric.v1.Agent/"
VERBOSE = False

# Filled in main() once protoc ran.
A = T = E = M = None


# ----------------------------------------------------------------------------------------
# Results


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, name, cond, info=""):
        if cond:
            self.passed += 1
            if VERBOSE:
                print("PASS %s" % name)
        else:
            self.failed.append(name)
            print("FAIL %s%s" % (name, (": " + str(info)) if info != "" else ""))
        sys.stdout.flush()
        return bool(cond)


R = Results()


def check(name, cond, info=""):
    return R.check(name, cond, info)


def rpc_err(e):
    return "%s %r" % (e.code(), e.details())


def ok(name, thunk):
    """Runs thunk; a gRPC error is a failure. Returns the result or None."""
    try:
        r = thunk()
    except grpc.RpcError as e:
        check(name, False, "expected OK, got " + rpc_err(e))
        return None
    check(name, True)
    return r


def expect(name, thunk, code, *substrings, max_s=None):
    """Runs thunk, expecting a gRPC error with `code` whose details contain every one of
    `substrings`, and (if max_s) that it came within max_s seconds."""
    t0 = time.monotonic()
    try:
        r = thunk()
        if hasattr(r, "__iter__") and not isinstance(r, (bytes, str)):
            r = list(r)
    except grpc.RpcError as e:
        dt = time.monotonic() - t0
        details = e.details() or ""
        missing = [s for s in substrings if s not in details]
        good = e.code() == code and not missing and (max_s is None or dt <= max_s)
        info = "expected %s%s, got %s%s" % (
            code.name, (" naming " + ", ".join(repr(s) for s in substrings)) if substrings else "",
            rpc_err(e), (" after %.2fs (limit %.2fs)" % (dt, max_s)) if max_s else "")
        check(name, good, info)
        return e
    r_text = str(r).replace("\n", " ")[:200]
    check(name, False, "expected %s, got OK: %s" % (code.name, r_text))
    return None


# ----------------------------------------------------------------------------------------
# Hand-made protobuf wire bytes (python protobuf refuses invalid UTF-8 in string fields)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def w_varint(field, n):
    return varint(field << 3 | 0) + varint(n)


def w_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def raw_endpoint(vni=None, mac=None, ipv4=(), ipv6=(), state=None, port=None, vtep=None,
                 generation=None, vm_name=None):
    out = b""
    if vni is not None:
        out += w_varint(1, vni)
    if mac is not None:
        out += w_bytes(2, mac)
    for a in ipv4:
        out += w_bytes(3, a)
    for a in ipv6:
        out += w_bytes(4, a)
    if state is not None:
        out += w_varint(5, state)
    if port is not None:
        out += w_bytes(6, port)
    if vtep is not None:
        out += w_bytes(7, vtep)
    if generation is not None:
        out += w_varint(8, generation)
    if vm_name is not None:
        out += w_bytes(9, vm_name)
    return out


def raw_upsert(**kw):
    return w_bytes(1, raw_endpoint(**kw))  # UpsertEndpointRequest.endpoint = 1


# ----------------------------------------------------------------------------------------
# Client helpers


def ser(m):
    return m if isinstance(m, (bytes, bytearray)) else m.SerializeToString()


class Agent:
    """Calls fabric.v1.Agent by method path."""

    def __init__(self, channel):
        self.ch = channel

    def unary(self, method, resp_cls, req, timeout=5.0):
        mc = self.ch.unary_unary(AGENT + method, request_serializer=ser,
                                 response_deserializer=resp_cls.FromString)
        return mc(req, timeout=timeout)

    def server_stream(self, method, resp_cls, req, timeout=None):
        mc = self.ch.unary_stream(AGENT + method, request_serializer=ser,
                                  response_deserializer=resp_cls.FromString)
        return mc(req, timeout=timeout)

    def client_stream_callable(self, method, resp_cls):
        return self.ch.stream_unary(AGENT + method, request_serializer=ser,
                                    response_deserializer=resp_cls.FromString)

    # The API, one wrapper per method.
    def health(self, timeout=5.0):
        return self.unary("Health", T.HealthResponse, T.HealthRequest(), timeout)

    def upsert(self, ep=None, raw=None, timeout=5.0, **kw):
        if raw is not None:
            return self.unary("UpsertEndpoint", A.UpsertEndpointResponse, raw, timeout)
        if ep is None:
            ep = T.Endpoint(**kw)
        return self.unary("UpsertEndpoint", A.UpsertEndpointResponse,
                          A.UpsertEndpointRequest(endpoint=ep), timeout)

    def delete(self, vni, mac, generation, timeout=5.0):
        return self.unary("DeleteEndpoint", A.DeleteEndpointResponse,
                          A.DeleteEndpointRequest(vni=vni, mac=mac, generation=generation), timeout)

    def batch(self, messages, timeout=10.0):
        """messages: a list of lists of Endpoint (or of raw bytes for a message)."""
        mc = self.client_stream_callable("UpsertEndpoints", A.UpsertEndpointsResponse)
        reqs = [m if isinstance(m, (bytes, A.UpsertEndpointsRequest))
                else A.UpsertEndpointsRequest(endpoints=m) for m in messages]
        return mc(iter(reqs), timeout=timeout)

    def list_flows(self, timeout=10.0, **filters):
        """Returns (rows, pages): every row of every page, and the page sizes."""
        rows, pages = [], []
        for page in self.server_stream("ListFlows", A.ListFlowsResponse,
                                       A.ListFlowsRequest(**filters), timeout):
            pages.append(len(page.flows))
            rows.extend(page.flows)
        return rows, pages

    def flow(self, vni, mac):
        rows, _ = self.list_flows(vni=vni, mac=mac)
        return rows[0] if len(rows) == 1 else (None if not rows else rows)

    def stats(self, timeout=5.0):
        return self.unary("GetStats", A.GetStatsResponse, A.GetStatsRequest(), timeout)

    def prepare(self, timeout=5.0, **kw):
        return self.unary("PrepareIncoming", A.PrepareIncomingResponse,
                          A.PrepareIncomingRequest(**kw), timeout)

    def begin(self, timeout=5.0, **kw):
        return self.unary("BeginForwarding", A.BeginForwardingResponse,
                          A.BeginForwardingRequest(**kw), timeout)

    def activate(self, timeout=5.0, **kw):
        return self.unary("Activate", A.ActivateResponse, A.ActivateRequest(**kw), timeout)

    def end(self, timeout=5.0, **kw):
        return self.unary("EndForwarding", A.EndForwardingResponse,
                          A.EndForwardingRequest(**kw), timeout)

    def watch(self, timeout=None, **kw):
        return self.server_stream("WatchEvents", E.Event, E.WatchEventsRequest(**kw), timeout)


LOCAL, REMOTE, INCOMING, FORWARDING = 1, 2, 3, 4


def ep(vni, mac, state, generation, port="", vtep="", ipv4=(), ipv6=(), vm_name=""):
    return T.Endpoint(vni=vni, mac=mac, state=state, generation=generation, port_name=port,
                      vtep=vtep, ipv4_addresses=list(ipv4), ipv6_addresses=list(ipv6),
                      vm_name=vm_name)


def mac_of(i, hi=0x02):
    """A unicast, locally administered MAC from a number."""
    return "%02x:%02x:%02x:%02x:%02x:%02x" % (hi, (i >> 32) & 0xFF, (i >> 24) & 0xFF,
                                              (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF)


def serving(name, agent):
    """A check that the server still answers Health."""
    try:
        h = agent.health(timeout=3)
        return check(name, h.status == T.HEALTH_STATUS_SERVING, h)
    except grpc.RpcError as e:
        return check(name, False, "Health failed: " + rpc_err(e))


# ----------------------------------------------------------------------------------------
# Processes, certificates


class Env:
    def __init__(self, fabricd, workdir, prefix):
        self.fabricd = fabricd
        self.dir = workdir
        self.prefix = prefix
        self.procs = []

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def record(self, what, value):
        with open(self.path(what), "a") as f:
            f.write("%s\n" % value)

    def start(self, tag, listen, extra=(), vtep="192.0.2.1", wait=True):
        """Starts fabricd `tag`. Returns the Popen (with .log and .dpdk_prefix)."""
        file_prefix = "%s%s" % (self.prefix, tag)
        self.record("prefixes", file_prefix)
        cmd = [self.fabricd, "--no-huge", "--no-pci", "-m", "256", "-l", "0-1",
               "--file-prefix", file_prefix, "--log-level", "*:warning", "--",
               "--vtep", vtep, "--uplink", "net_null0",
               "--vm-port", "vm1:100:net_null1", "--vm-port", "vm2:100:net_null2",
               "--vm-port", "vm3:100:net_null3",
               "--listen", "unix:" + listen, "--host-name", "host-" + tag] + list(extra)
        log = open(self.path("fabricd-%s.log" % tag), "w+")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        p.log = log
        p.tag = tag
        p.dpdk_prefix = file_prefix
        p.sock = listen
        self.record("pids", p.pid)
        self.procs.append(p)
        if VERBOSE:
            print("# started fabricd %s (pid %d): %s" % (tag, p.pid, " ".join(cmd)))
        if wait:
            self.wait_ready(p)
        return p

    def wait_ready(self, p, limit=15.0):
        t_end = time.monotonic() + limit
        while time.monotonic() < t_end:
            if p.poll() is not None:
                raise RuntimeError("fabricd %s exited with %s before serving:\n%s" %
                                   (p.tag, p.returncode, self.log_text(p)))
            if os.path.exists(p.sock):
                # A fresh channel each time: a channel that failed once (a stale socket
                # file left by a crashed instance) waits out its reconnect backoff.
                ch = grpc.insecure_channel("unix:" + p.sock)
                try:
                    Agent(ch).health(timeout=1)
                    return
                except grpc.RpcError:
                    pass
                finally:
                    ch.close()
            time.sleep(0.05)
        raise RuntimeError("fabricd %s did not serve within %.0fs:\n%s" %
                           (p.tag, limit, self.log_text(p)))

    def log_text(self, p):
        p.log.flush()
        with open(p.log.name) as f:
            return f.read()

    def stop(self, p, sig=signal.SIGTERM, limit=5.0):
        """Stops p (if still running); returns (returncode, seconds) or (None, limit)."""
        t0 = time.monotonic()
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(limit)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return None, limit
        return p.returncode, time.monotonic() - t0

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.log.close()
            shutil.rmtree("/var/run/dpdk/" + p.dpdk_prefix, ignore_errors=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def make_pki(d):
    """A CA, a server cert for 127.0.0.1/localhost, clients: allowed (CN controller-1),
    reader (CN reader-1), stranger (CN controller-1 but signed by another CA)."""
    os.makedirs(d, exist_ok=True)

    def ca(name):
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", name + ".key", "-out", name + ".pem", "-subj", "/CN=test " + name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"], cwd=d)

    def leaf(name, signer, cn, ext):
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", "/CN=" + cn], cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", signer + ".pem",
             "-CAkey", signer + ".key", "-CAcreateserial", "-days", "2", "-out", name + ".pem",
             "-extfile", name + ".ext"], cwd=d)

    ca("ca")
    ca("otherca")
    leaf("server", "ca", "fabricd-test",
         "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    # No subjectAltName on client certs: grpc's peer identity is then the CN.
    leaf("allowed", "ca", "controller-1", "extendedKeyUsage=clientAuth\n")
    leaf("reader", "ca", "reader-1", "extendedKeyUsage=clientAuth\n")
    leaf("stranger", "otherca", "controller-1", "extendedKeyUsage=clientAuth\n")
    # With subjectAltNames the identity is the SANs; the allowed name is the second one.
    leaf("multisan", "ca", "controller-1",
         "subjectAltName=DNS:other-name,DNS:controller-1\nextendedKeyUsage=clientAuth\n")

    def rd(n):
        with open(os.path.join(d, n), "rb") as f:
            return f.read()

    return rd


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ----------------------------------------------------------------------------------------
# The checks, in sections


def t_health(ag, tag):
    h = ok("Health answers", lambda: ag.health())
    if not h:
        return
    now = time.time_ns()
    check("Health.status is SERVING", h.status == T.HEALTH_STATUS_SERVING, h.status)
    check("Health.service is the program, \"fabricd\" (types.proto)", h.service == "fabricd",
          repr(h.service))
    check("Health.version is set", h.version != "", repr(h.version))
    check("Health.host_name is --host-name", h.host_name == "host-" + tag, repr(h.host_name))
    check("Health.vtep is --vtep", h.vtep == "192.0.2.1", repr(h.vtep))
    check("Health.datapath is \"dpdk\"", h.datapath == "dpdk", repr(h.datapath))
    check("Health.store is empty for fabricd (types.proto: fabric-controller only)",
          h.store == "", repr(h.store))
    check("Health.started_unix_ns <= now_unix_ns",
          0 < h.started_unix_ns <= h.now_unix_ns, (h.started_unix_ns, h.now_unix_ns))
    check("Health.now_unix_ns is the wall clock", abs(h.now_unix_ns - now) < 60e9,
          (h.now_unix_ns, now))


def same_endpoint(got, want):
    """Compares what the server answers with what was sent (MAC in lower case)."""
    fields = ("vni", "state", "port_name", "vtep", "generation")
    diffs = [f for f in fields if getattr(got, f) != getattr(want, f)]
    if got.mac != want.mac.lower():
        diffs.append("mac")
    if list(got.ipv4_addresses) != list(want.ipv4_addresses):
        diffs.append("ipv4_addresses")
    if list(got.ipv6_addresses) != list(want.ipv6_addresses):
        diffs.append("ipv6_addresses")
    return diffs


def t_upsert_delete(ag):
    # LOCAL on a port, with addresses and a VM name.
    e1 = ep(100, "02:00:00:00:01:01", LOCAL, 5, port="vm1", ipv4=["10.0.0.1"],
            ipv6=["fd00::1"], vm_name="vm-a")
    r = ok("UpsertEndpoint LOCAL on port vm1", lambda: ag.upsert(e1))
    if r:
        check("UpsertEndpoint LOCAL: the answer is the endpoint as sent",
              not same_endpoint(r.endpoint, e1), same_endpoint(r.endpoint, e1))
        check("UpsertEndpoint LOCAL: created is true for a new endpoint", r.created is True,
              str(r).replace("\n", " "))
        check("UpsertEndpoint LOCAL: the answer keeps vm_name", r.endpoint.vm_name == "vm-a",
              repr(r.endpoint.vm_name))
    f = ok("ListFlows mac=... finds the LOCAL endpoint", lambda: ag.flow(100, e1.mac))
    if f is not None:
        check("ListFlows: LOCAL row matches", (
            not isinstance(f, list) and f.vni == 100 and f.mac == e1.mac and f.state == LOCAL
            and f.port_name == "vm1" and f.vtep == "" and f.generation == 5
            and list(f.ipv4_addresses) == ["10.0.0.1"] and list(f.ipv6_addresses) == ["fd00::1"]
            and f.hold_queue_packets == 0), str(f).replace("\n", " "))
        if not isinstance(f, list):
            check("ListFlows: the LOCAL row keeps vm_name", f.vm_name == "vm-a", repr(f.vm_name))

    expect("UpsertEndpoint with the held generation -> ABORTED naming it",
           lambda: ag.upsert(e1), SC.ABORTED, "held generation 5")
    e1b = ep(100, "02:00:00:00:01:01", LOCAL, 6, port="vm1", ipv4=["10.0.0.1", "10.0.0.2"])
    r = ok("UpsertEndpoint with a newer generation", lambda: ag.upsert(e1b))
    if r:
        check("UpsertEndpoint update: created is false", r.created is False)
        check("UpsertEndpoint update: addresses replaced",
              list(r.endpoint.ipv4_addresses) == ["10.0.0.1", "10.0.0.2"] and
              list(r.endpoint.ipv6_addresses) == [], str(r.endpoint).replace("\n", " "))

    # REMOTE with a VTEP; the MAC in upper case is answered in lower case.
    e2 = ep(200, "02:00:00:00:02:0B", REMOTE, 1, vtep="192.0.2.50", ipv4=["10.1.0.2"])
    r = ok("UpsertEndpoint REMOTE with a vtep (upper-case MAC)", lambda: ag.upsert(e2))
    if r:
        check("UpsertEndpoint REMOTE: answer matches, MAC in lower case",
              not same_endpoint(r.endpoint, e2), same_endpoint(r.endpoint, e2))
    rows = ok("ListFlows vni=200", lambda: ag.list_flows(vni=200))
    if rows:
        rows = rows[0]
        check("ListFlows vni=200: the REMOTE row", len(rows) == 1 and rows[0].mac == e2.mac.lower()
              and rows[0].state == REMOTE and rows[0].vtep == "192.0.2.50"
              and rows[0].port_name == "" and rows[0].generation == 1,
              [str(x).replace("\n", " ") for x in rows])

    # Location errors found by the fast path's checks.
    expect("UpsertEndpoint REMOTE at this host's own VTEP -> INVALID_ARGUMENT",
           lambda: ag.upsert(ep(200, "02:00:00:00:02:0c", REMOTE, 1, vtep="192.0.2.1")),
           SC.INVALID_ARGUMENT)
    expect("UpsertEndpoint LOCAL on a port of another VNI -> INVALID_ARGUMENT",
           lambda: ag.upsert(ep(300, "02:00:00:00:02:0d", LOCAL, 1, port="vm2")),
           SC.INVALID_ARGUMENT)
    expect("UpsertEndpoint LOCAL on a port bound to another endpoint -> FAILED_PRECONDITION",
           lambda: ag.upsert(ep(100, "02:00:00:00:02:0e", LOCAL, 1, port="vm1")),
           SC.FAILED_PRECONDITION, "vm1")
    expect("UpsertEndpoint claiming another endpoint's address -> ALREADY_EXISTS",
           lambda: ag.upsert(ep(100, "02:00:00:00:02:0f", REMOTE, 1, vtep="192.0.2.51",
                                ipv4=["10.0.0.2"])), SC.ALREADY_EXISTS)
    check("failed upserts created nothing",
          ag.list_flows(vni=300)[0] == [] and ag.flow(100, "02:00:00:00:02:0e") is None
          and ag.flow(100, "02:00:00:00:02:0f") is None and ag.flow(200, "02:00:00:00:02:0c") is None)

    # DeleteEndpoint: generation rules, the tombstone.
    x = ep(200, "02:00:00:00:02:10", REMOTE, 10, vtep="192.0.2.52", ipv4=["10.1.0.10"])
    ok("UpsertEndpoint (to delete) gen 10", lambda: ag.upsert(x))
    expect("DeleteEndpoint with an older generation -> ABORTED",
           lambda: ag.delete(200, x.mac, 9), SC.ABORTED)
    expect("DeleteEndpoint with generation 0 -> INVALID_ARGUMENT naming generation",
           lambda: ag.delete(200, x.mac, 0), SC.INVALID_ARGUMENT, "generation")
    r = ok("DeleteEndpoint with the held generation", lambda: ag.delete(200, x.mac, 10))
    if r:
        check("DeleteEndpoint answers the endpoint as it was",
              not same_endpoint(r.endpoint, x), same_endpoint(r.endpoint, x))
    check("DeleteEndpoint: ListFlows no longer lists it", ag.flow(200, x.mac) is None)
    expect("DeleteEndpoint again -> NOT_FOUND", lambda: ag.delete(200, x.mac, 11), SC.NOT_FOUND)
    expect("DeleteEndpoint of an unknown endpoint -> NOT_FOUND",
           lambda: ag.delete(200, "02:00:00:00:02:99", 1), SC.NOT_FOUND, "02:00:00:00:02:99")
    expect("UpsertEndpoint older than the tombstone -> ABORTED",
           lambda: ag.upsert(ep(200, x.mac, REMOTE, 10, vtep="192.0.2.52")), SC.ABORTED)
    r = ok("UpsertEndpoint newer than the tombstone",
           lambda: ag.upsert(ep(200, x.mac, REMOTE, 11, vtep="192.0.2.53", ipv4=["10.1.0.10"])))
    if r:
        check("UpsertEndpoint after a deletion: created is true (agent.proto: 'or held only its "
              "tombstone')", r.created is True)
    ok("DeleteEndpoint with a newer generation", lambda: ag.delete(200, x.mac, 12))

    # Free vm1 for the migration section.
    ok("DeleteEndpoint the LOCAL endpoint (frees vm1)", lambda: ag.delete(100, e1.mac, 6))
    r = ok("UpsertEndpoint LOCAL on the freed port vm1",
           lambda: ag.upsert(ep(100, "02:00:00:00:01:02", LOCAL, 1, port="vm1")))
    ok("DeleteEndpoint it again", lambda: ag.delete(100, "02:00:00:00:01:02", 1))


def t_batch(ag):
    # Three messages of four endpoints, plus one LOCAL.
    msgs = []
    sent = []
    for m in range(3):
        eps = [ep(300, mac_of(0x300000 + m * 16 + i), REMOTE, 1, vtep="192.0.2.%d" % (60 + i),
                  ipv4=["10.3.%d.%d" % (m, i + 1)]) for i in range(4)]
        msgs.append(eps)
        sent.extend(eps)
    msgs[1].append(ep(100, "02:00:00:00:03:ff", LOCAL, 1, port="vm2"))
    sent.append(msgs[1][-1])
    r = ok("UpsertEndpoints: 3 messages, 13 endpoints", lambda: ag.batch(msgs))
    if r:
        check("UpsertEndpoints: received 13, created 13, updated 0",
              (r.endpoints_received, r.endpoints_created, r.endpoints_updated) == (13, 13, 0),
              str(r).replace("\n", " "))
        check("UpsertEndpoints: applied_unix_ns is the wall clock",
              abs(r.applied_unix_ns - time.time_ns()) < 60e9, r.applied_unix_ns)
    rows = ag.list_flows(vni=300)[0]
    check("UpsertEndpoints: ListFlows vni=300 lists the 12 REMOTE ones",
          sorted(x.mac for x in rows) == sorted(x.mac for x in sent if x.vni == 300) and
          all(x.state == REMOTE and x.generation == 1 for x in rows), len(rows))
    f = ag.flow(100, "02:00:00:00:03:ff")
    check("UpsertEndpoints: the LOCAL one is on vm2", f is not None and not isinstance(f, list)
          and f.state == LOCAL and f.port_name == "vm2", f)

    # Updates and creations mixed.
    upd = [ep(300, x.mac, REMOTE, 2, vtep="192.0.2.70") for x in sent[:3]]
    new = [ep(300, mac_of(0x300100 + i), REMOTE, 1, vtep="192.0.2.71") for i in range(2)]
    r = ok("UpsertEndpoints: 3 updates and 2 new", lambda: ag.batch([upd[:2], upd[2:] + new]))
    if r:
        check("UpsertEndpoints: received 5, created 2, updated 3",
              (r.endpoints_received, r.endpoints_created, r.endpoints_updated) == (5, 2, 3),
              str(r).replace("\n", " "))
    f = ag.flow(300, sent[0].mac)
    check("UpsertEndpoints: an updated endpoint has its new location",
          f is not None and not isinstance(f, list) and f.generation == 2 and
          f.vtep == "192.0.2.70", f)

    # A refused batch: all or nothing, the position counted over the whole stream.
    def bad_batch(bad_ep, pos_in_msg=2):
        msgs = []
        for m in range(3):
            eps = [ep(301, mac_of(0x301000 + m * 16 + i), REMOTE, 1, vtep="192.0.2.80")
                   for i in range(4)]
            msgs.append(eps)
        # An update of an existing endpoint in the same batch: must not be applied either.
        msgs[0][0] = ep(300, sent[5].mac, REMOTE, 7, vtep="192.0.2.81")
        msgs[1][pos_in_msg] = bad_ep
        return msgs

    cases = [
        ("VNI 0", ep(0, "02:00:00:00:30:01", REMOTE, 1, vtep="192.0.2.80"),
         SC.INVALID_ARGUMENT, ["endpoints[6].vni"]),
        ("a bad MAC", ep(301, "02:00:00:00:30", REMOTE, 1, vtep="192.0.2.80"),
         SC.INVALID_ARGUMENT, ["endpoints[6].mac"]),
        ("no such port", ep(100, "02:00:00:00:30:02", LOCAL, 1, port="nope"),
         SC.INVALID_ARGUMENT, ["endpoints[6].port_name"]),
        ("a duplicate of an earlier one", ep(301, mac_of(0x301000 + 1), REMOTE, 1,
                                              vtep="192.0.2.80"),
         SC.INVALID_ARGUMENT, ["endpoints[6]", mac_of(0x301000 + 1)]),
        ("a stale generation", ep(300, sent[1].mac, REMOTE, 1, vtep="192.0.2.82"),
         SC.ABORTED, ["endpoints[6]", sent[1].mac]),
        ("a port bound to another endpoint", ep(100, "02:00:00:00:30:03", LOCAL, 1, port="vm2"),
         SC.FAILED_PRECONDITION, ["endpoints[6]", "02:00:00:00:30:03"]),
    ]
    for what, bad, code, words in cases:
        e = expect("UpsertEndpoints with %s at position 6 -> %s naming it" % (what, code.name),
                   lambda: ag.batch(bad_batch(bad)), code, *words)
        if e is not None:
            check("UpsertEndpoints refusal (%s) says nothing was applied" % what,
                  "nothing was applied" in (e.details() or ""), e.details())
        rows = ag.list_flows(vni=301)[0]
        f = ag.flow(300, sent[5].mac)
        check("UpsertEndpoints refusal (%s): nothing of the batch applied" % what,
              rows == [] and f is not None and not isinstance(f, list) and f.generation == 1,
              "vni 301 rows %d, updated endpoint %s" % (len(rows), f))

    # A malformed message in the middle of the stream.
    msgs = bad_batch(ep(301, "02:00:00:00:30:04", REMOTE, 1, vtep="192.0.2.80"))
    msgs = [A.UpsertEndpointsRequest(endpoints=msgs[0]).SerializeToString(), b"\x0f\x01\x02",
            A.UpsertEndpointsRequest(endpoints=msgs[2]).SerializeToString()]
    expect("UpsertEndpoints with an undecodable message -> INVALID_ARGUMENT",
           lambda: ag.batch(msgs), SC.INVALID_ARGUMENT)
    check("UpsertEndpoints undecodable message: nothing applied",
          ag.list_flows(vni=301)[0] == [] and ag.flow(300, sent[5].mac).generation == 1)
    # Invalid UTF-8 inside a streamed endpoint.
    raw = w_bytes(1, raw_endpoint(vni=301, mac="02:00:00:00:30:05", state=REMOTE, vtep="192.0.2.80",
                                  generation=1)) + \
        w_bytes(1, raw_endpoint(vni=301, mac=b"02:00:00:00:30:\xff\xfe", state=REMOTE,
                                vtep="192.0.2.80", generation=1))
    expect("UpsertEndpoints with invalid UTF-8 in endpoints[1].mac -> INVALID_ARGUMENT",
           lambda: ag.batch([raw]), SC.INVALID_ARGUMENT, "endpoints[1].mac")
    check("UpsertEndpoints invalid UTF-8: nothing applied", ag.list_flows(vni=301)[0] == [])
    ok("DeleteEndpoint the batch's LOCAL endpoint (frees vm2)",
       lambda: ag.delete(100, "02:00:00:00:03:ff", 1))


def t_list_flows(ag):
    # A table with all four states: after t_batch and t_upsert_delete there are REMOTE rows;
    # add one INCOMING and one FORWARDING in VNI 100.
    ok("setup: LOCAL on vm1 for the filters",
       lambda: ag.upsert(ep(100, "02:00:00:00:04:01", LOCAL, 1, port="vm1")))
    ok("setup: BeginForwarding it", lambda: ag.begin(vni=100, mac="02:00:00:00:04:01",
                                                      generation=2, target_vtep="192.0.2.90"))
    ok("setup: PrepareIncoming on vm2",
       lambda: ag.prepare(vni=100, mac="02:00:00:00:04:02", generation=1, port_name="vm2"))
    # The port a VM left stays its own while it forwards (it still sends from there
    # until QEMU pauses it): another endpoint cannot take it yet.
    expect("a FORWARDING endpoint's port is not free -> FAILED_PRECONDITION",
           lambda: ag.upsert(ep(100, "02:00:00:00:04:03", LOCAL, 1, port="vm1")),
           SC.FAILED_PRECONDITION, "vm1")
    ok("setup: LOCAL on vm3",
       lambda: ag.upsert(ep(100, "02:00:00:00:04:03", LOCAL, 1, port="vm3")))
    all_rows, pages = ag.list_flows()
    check("ListFlows without filters: one or more pages, none over 1024 rows",
          pages and all(n <= 1024 for n in pages), pages)
    for st, name in ((LOCAL, "LOCAL"), (REMOTE, "REMOTE"), (INCOMING, "INCOMING"),
                     (FORWARDING, "FORWARDING")):
        rows, _ = ag.list_flows(state=st)
        want = sorted((x.vni, x.mac) for x in all_rows if x.state == st)
        check("ListFlows state=%s: exactly the %s rows" % (name, name),
              rows and all(x.state == st for x in rows) and
              sorted((x.vni, x.mac) for x in rows) == want, (len(rows), len(want)))
    rows, _ = ag.list_flows(vni=300)
    check("ListFlows vni=300: exactly that VNI's rows",
          rows and all(x.vni == 300 for x in rows) and
          len(rows) == len([x for x in all_rows if x.vni == 300]), len(rows))
    rows, _ = ag.list_flows(mac="02:00:00:00:04:01")
    check("ListFlows mac=: the one row, FORWARDING to the target",
          len(rows) == 1 and rows[0].state == FORWARDING and rows[0].vtep == "192.0.2.90"
          and rows[0].port_name == "" and rows[0].generation == 2, rows)
    rows, _ = ag.list_flows(mac="02:00:00:00:04:02".upper())
    check("ListFlows mac= in upper case matches; INCOMING on vm2",
          len(rows) == 1 and rows[0].state == INCOMING and rows[0].port_name == "vm2", rows)
    rows, _ = ag.list_flows(vni=100, mac="02:00:00:00:04:03", state=LOCAL)
    check("ListFlows vni+mac+state together", len(rows) == 1 and rows[0].port_name == "vm3", rows)
    rows, pages = ag.list_flows(vni=100, mac="02:00:00:00:04:03", state=REMOTE)
    check("ListFlows with filters matching nothing: no rows", rows == [], rows)
    rows, _ = ag.list_flows(vni=999, mac="02:00:00:00:04:03")
    check("ListFlows vni that does not match the mac: no rows", rows == [], rows)
    expect("ListFlows vni=2^24 -> INVALID_ARGUMENT naming vni",
           lambda: ag.list_flows(vni=1 << 24), SC.INVALID_ARGUMENT, "vni")
    expect("ListFlows mac='zz' -> INVALID_ARGUMENT naming mac",
           lambda: ag.list_flows(mac="zz"), SC.INVALID_ARGUMENT, "mac")
    expect("ListFlows state=9 -> INVALID_ARGUMENT naming state",
           lambda: ag.list_flows(state=9), SC.INVALID_ARGUMENT, "state")
    expect("ListFlows mac with invalid UTF-8 (raw bytes) -> INVALID_ARGUMENT naming mac",
           lambda: list(ag.server_stream("ListFlows", A.ListFlowsResponse,
                                         w_bytes(2, b"02:00:00:00:04:\xc0\xaf"), 5)),
           SC.INVALID_ARGUMENT, "mac")
    # Clean up the states used here.
    for mac, gen in (("02:00:00:00:04:01", 2), ("02:00:00:00:04:02", 1), ("02:00:00:00:04:03", 1)):
        ok("cleanup: DeleteEndpoint %s" % mac, lambda: ag.delete(100, mac, gen))


BIG_VNI = 500
BIG_N = 2500


def t_pages(ag):
    eps = [ep(BIG_VNI, mac_of(0x500000 + i), REMOTE, 3, vtep="192.0.2.%d" % (100 + i % 50))
           for i in range(BIG_N)]
    msgs = [eps[i:i + 500] for i in range(0, BIG_N, 500)]
    r = ok("UpsertEndpoints: %d endpoints in %d messages" % (BIG_N, len(msgs)),
           lambda: ag.batch(msgs, timeout=20))
    if r:
        check("UpsertEndpoints big batch: received and created %d" % BIG_N,
              r.endpoints_received == BIG_N and r.endpoints_created == BIG_N, r)
    rows, pages = ag.list_flows(vni=BIG_VNI, timeout=20)
    check("ListFlows over %d rows: several pages of at most 1024" % BIG_N,
          len(pages) >= 3 and all(n <= 1024 for n in pages), pages)
    want = {x.mac: x for x in eps}
    got = {x.mac: x for x in rows}
    check("ListFlows over %d rows: every row once" % BIG_N,
          len(rows) == BIG_N and set(got) == set(want), (len(rows), len(got)))
    check("ListFlows over %d rows: every row as set" % BIG_N,
          all(got[m].vtep == want[m].vtep and got[m].generation == 3 and got[m].state == REMOTE
              for m in got), "")
    rows, _ = ag.list_flows(timeout=20)
    check("ListFlows without filters includes the %d rows" % BIG_N,
          len([x for x in rows if x.vni == BIG_VNI]) == BIG_N and len(rows) > BIG_N, len(rows))


def t_stats(ag):
    s1 = ok("GetStats answers", lambda: ag.stats())
    if not s1:
        return
    names = [c.name for c in s1.counters]
    check("GetStats: counters numbered 0..n-1 in order",
          len(s1.counters) > 0 and [c.number for c in s1.counters] == list(range(len(s1.counters))),
          [c.number for c in s1.counters])
    check("GetStats: counters have unique non-empty names",
          all(names) and len(set(names)) == len(names), names)
    for n in ("rx", "delivered", "encapsulated", "forwarded", "held", "released", "dropped"):
        check("GetStats: counter %r present" % n, n in names, names)
    dn = [c.name for c in s1.drop_reasons]
    check("GetStats: drop reasons numbered 1..m in order (no 'none')",
          len(s1.drop_reasons) > 0 and
          [c.number for c in s1.drop_reasons] == list(range(1, len(s1.drop_reasons) + 1)),
          [c.number for c in s1.drop_reasons])
    check("GetStats: drop reasons have unique non-empty names, no 'none'",
          all(dn) and len(set(dn)) == len(dn) and "none" not in dn, dn)
    for n in ("hold_overflow", "hold_timeout", "unknown_destination"):
        check("GetStats: drop reason %r present" % n, n in dn, dn)
    check("GetStats: descriptions are given",
          all(c.description for c in list(s1.counters) + list(s1.drop_reasons)))
    check("GetStats: counting_since <= collected, both wall clock",
          0 < s1.counting_since_unix_ns <= s1.collected_unix_ns and
          abs(s1.collected_unix_ns - time.time_ns()) < 60e9,
          (s1.counting_since_unix_ns, s1.collected_unix_ns))
    rx = {c.name: c.value for c in s1.counters}.get("rx", 0)
    check("GetStats: rx counts the net_null ports' frames", rx > 0, rx)
    time.sleep(0.05)
    s2 = ok("GetStats again", lambda: ag.stats())
    if s2:
        check("GetStats: counters never go down",
              all(b.value >= a.value for a, b in zip(s1.counters, s2.counters)) and
              all(b.value >= a.value for a, b in zip(s1.drop_reasons, s2.drop_reasons)))
        check("GetStats: the same names both times",
              [c.name for c in s2.counters] == names and [c.name for c in s2.drop_reasons] == dn)
        dropped = {c.name: c.value for c in s2.counters}.get("dropped", 0)
        check("GetStats: 'dropped' equals the sum of the drop reasons (read at once)",
              dropped >= sum(c.value for c in s1.drop_reasons), dropped)


def t_migration(ag):
    T_MAC, S_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
    # The target's view: the VM runs elsewhere (REMOTE) with addresses and a name.
    ok("migration setup: target endpoint REMOTE gen 3",
       lambda: ag.upsert(ep(100, T_MAC, REMOTE, 3, vtep="192.0.2.70", ipv4=["10.0.10.1"],
                            vm_name="vm-t")))
    # The source's view of another VM: LOCAL on vm2.
    ok("migration setup: source endpoint LOCAL on vm2 gen 3",
       lambda: ag.upsert(ep(100, S_MAC, LOCAL, 3, port="vm2", ipv4=["10.0.11.1"])))

    # PrepareIncoming.
    expect("PrepareIncoming with the held generation -> ABORTED",
           lambda: ag.prepare(vni=100, mac=T_MAC, generation=3, port_name="vm1"),
           SC.ABORTED, "held generation 3")
    expect("PrepareIncoming on a missing port -> INVALID_ARGUMENT naming port_name",
           lambda: ag.prepare(vni=100, mac=T_MAC, generation=4, port_name="nope"),
           SC.INVALID_ARGUMENT, "port_name")
    expect("PrepareIncoming without a port -> INVALID_ARGUMENT naming port_name",
           lambda: ag.prepare(vni=100, mac=T_MAC, generation=4), SC.INVALID_ARGUMENT,
           "port_name")
    expect("PrepareIncoming on a port bound to another endpoint -> FAILED_PRECONDITION",
           lambda: ag.prepare(vni=100, mac=T_MAC, generation=4, port_name="vm2"),
           SC.FAILED_PRECONDITION, "vm2")
    expect("PrepareIncoming generation 0 -> INVALID_ARGUMENT naming generation",
           lambda: ag.prepare(vni=100, mac=T_MAC, generation=0, port_name="vm1"),
           SC.INVALID_ARGUMENT, "generation")
    r = ok("PrepareIncoming gen 4 on vm1 (no addresses: keeps those held)",
           lambda: ag.prepare(vni=100, mac=T_MAC, generation=4, port_name="vm1",
                              migration_id="mig-1", source_host_name="host-x"))
    if r:
        check("PrepareIncoming: INCOMING on vm1 at gen 4",
              r.endpoint.state == INCOMING and r.endpoint.port_name == "vm1" and
              r.endpoint.vtep == "" and r.endpoint.generation == 4, r.endpoint)
        check("PrepareIncoming without addresses keeps the held ones (agent.proto)",
              list(r.endpoint.ipv4_addresses) == ["10.0.10.1"], list(r.endpoint.ipv4_addresses))
    f = ag.flow(100, T_MAC)
    check("ListFlows: INCOMING on vm1 gen 4, hold queue empty",
          f is not None and not isinstance(f, list) and f.state == INCOMING and
          f.port_name == "vm1" and f.generation == 4 and f.hold_queue_packets == 0, f)
    if f is not None and not isinstance(f, list):
        check("ListFlows: PrepareIncoming without vm_name keeps the held vm_name",
              f.vm_name == "vm-t", repr(f.vm_name))

    # BeginForwarding on the other endpoint.
    expect("BeginForwarding with the held generation -> ABORTED",
           lambda: ag.begin(vni=100, mac=S_MAC, generation=3, target_vtep="192.0.2.80"),
           SC.ABORTED)
    expect("BeginForwarding target_vtep 'x' -> INVALID_ARGUMENT naming target_vtep",
           lambda: ag.begin(vni=100, mac=S_MAC, generation=4, target_vtep="x"),
           SC.INVALID_ARGUMENT, "target_vtep")
    expect("BeginForwarding without target_vtep -> INVALID_ARGUMENT naming target_vtep",
           lambda: ag.begin(vni=100, mac=S_MAC, generation=4), SC.INVALID_ARGUMENT, "target_vtep")
    expect("BeginForwarding from INCOMING -> FAILED_PRECONDITION",
           lambda: ag.begin(vni=100, mac=T_MAC, generation=9, target_vtep="192.0.2.80"),
           SC.FAILED_PRECONDITION, "incoming")
    expect("BeginForwarding of an unknown endpoint -> NOT_FOUND",
           lambda: ag.begin(vni=100, mac="02:00:00:00:0c:01", generation=1,
                            target_vtep="192.0.2.80"), SC.NOT_FOUND)
    r = ok("BeginForwarding gen 4 to 192.0.2.80",
           lambda: ag.begin(vni=100, mac=S_MAC, generation=4, target_vtep="192.0.2.80"))
    if r:
        check("BeginForwarding: FORWARDING to 192.0.2.80 at gen 4, no port",
              r.endpoint.state == FORWARDING and r.endpoint.vtep == "192.0.2.80" and
              r.endpoint.port_name == "" and r.endpoint.generation == 4 and
              list(r.endpoint.ipv4_addresses) == ["10.0.11.1"], r.endpoint)
    expect("BeginForwarding repeated -> ABORTED (not idempotent)",
           lambda: ag.begin(vni=100, mac=S_MAC, generation=4, target_vtep="192.0.2.80"),
           SC.ABORTED)

    # Activate the target.
    expect("Activate with a stale generation -> ABORTED",
           lambda: ag.activate(vni=100, mac=T_MAC, generation=3), SC.ABORTED)
    expect("Activate with a generation not yet held -> ABORTED",
           lambda: ag.activate(vni=100, mac=T_MAC, generation=5), SC.ABORTED)
    expect("Activate of an unknown endpoint -> NOT_FOUND",
           lambda: ag.activate(vni=100, mac="02:00:00:00:0c:02", generation=1), SC.NOT_FOUND,
           "02:00:00:00:0c:02")
    expect("Activate of a FORWARDING endpoint -> FAILED_PRECONDITION",
           lambda: ag.activate(vni=100, mac=S_MAC, generation=4), SC.FAILED_PRECONDITION)
    expect("Activate generation 0 -> INVALID_ARGUMENT naming generation",
           lambda: ag.activate(vni=100, mac=T_MAC, generation=0), SC.INVALID_ARGUMENT,
           "generation")
    r = ok("Activate gen 4", lambda: ag.activate(vni=100, mac=T_MAC, generation=4))
    if r:
        check("Activate: LOCAL on vm1 at gen 4, nothing released or dropped",
              r.endpoint.state == LOCAL and r.endpoint.port_name == "vm1" and
              r.endpoint.generation == 4 and r.packets_released == 0 and r.packets_dropped == 0,
              str(r).replace("\n", " "))
    r = ok("Activate repeated -> OK (idempotent)",
           lambda: ag.activate(vni=100, mac=T_MAC, generation=4))
    if r:
        check("Activate repeated: still LOCAL gen 4", r.endpoint.state == LOCAL and
              r.endpoint.generation == 4, r.endpoint)

    # EndForwarding on the source.
    expect("EndForwarding with a stale generation -> ABORTED",
           lambda: ag.end(vni=100, mac=S_MAC, generation=3), SC.ABORTED)
    expect("EndForwarding of a LOCAL endpoint -> FAILED_PRECONDITION",
           lambda: ag.end(vni=100, mac=T_MAC, generation=4), SC.FAILED_PRECONDITION, "local")
    expect("EndForwarding of an unknown endpoint -> NOT_FOUND",
           lambda: ag.end(vni=100, mac="02:00:00:00:0c:03", generation=1), SC.NOT_FOUND)
    r = ok("EndForwarding gen 4", lambda: ag.end(vni=100, mac=S_MAC, generation=4))
    if r:
        check("EndForwarding: REMOTE at 192.0.2.80 gen 4",
              r.endpoint.state == REMOTE and r.endpoint.vtep == "192.0.2.80" and
              r.endpoint.generation == 4 and r.endpoint.port_name == "", r.endpoint)
    ok("EndForwarding repeated -> OK (idempotent)", lambda: ag.end(vni=100, mac=S_MAC, generation=4))

    # BeginForwarding from REMOTE.
    expect("BeginForwarding from REMOTE -> FAILED_PRECONDITION",
           lambda: ag.begin(vni=100, mac=S_MAC, generation=5, target_vtep="192.0.2.81"),
           SC.FAILED_PRECONDITION, "remote")
    expect("Activate of a REMOTE endpoint -> FAILED_PRECONDITION",
           lambda: ag.activate(vni=100, mac=S_MAC, generation=4), SC.FAILED_PRECONDITION)

    fs = {x.mac: x for x in ag.list_flows(vni=100)[0]}
    check("ListFlows after the migration: target LOCAL on vm1 gen 4",
          T_MAC in fs and fs[T_MAC].state == LOCAL and fs[T_MAC].port_name == "vm1" and
          fs[T_MAC].generation == 4, fs.get(T_MAC))
    check("ListFlows after the migration: source REMOTE at 192.0.2.80 gen 4",
          S_MAC in fs and fs[S_MAC].state == REMOTE and fs[S_MAC].vtep == "192.0.2.80" and
          fs[S_MAC].generation == 4, fs.get(S_MAC))
    ok("migration: vm2 is free once the source forwards",
       lambda: ag.upsert(ep(100, "02:00:00:00:0b:02", LOCAL, 1, port="vm2")))
    # PrepareIncoming of an endpoint never seen creates it.
    ok("migration: DeleteEndpoint the target (frees vm1)", lambda: ag.delete(100, T_MAC, 4))
    r = ok("PrepareIncoming of an unknown endpoint creates it",
           lambda: ag.prepare(vni=100, mac="02:00:00:00:0c:04", generation=1, port_name="vm1",
                              ipv4_addresses=["10.0.12.1"]))
    if r:
        check("PrepareIncoming new: INCOMING with its addresses",
              r.endpoint.state == INCOMING and list(r.endpoint.ipv4_addresses) == ["10.0.12.1"],
              r.endpoint)
    for mac, gen in (("02:00:00:00:0c:04", 1), ("02:00:00:00:0b:02", 1), (S_MAC, 4)):
        ok("migration cleanup: DeleteEndpoint %s" % mac, lambda: ag.delete(100, mac, gen))


def t_migration_rpcs(ag):
    # The driver's RPCs without a QEMU: what a caller gets for bad or unknown requests.
    expect("StartMigration without target_vtep -> INVALID_ARGUMENT naming it",
           lambda: ag.unary("StartMigration", A.StartMigrationResponse,
                            A.StartMigrationRequest(vm_name="vm-a", target_host_name="h2",
                                                    target_migration_uri="tcp:192.0.2.12:49152")),
           SC.INVALID_ARGUMENT, "target_vtep", max_s=2)
    expect("StartMigration of a VM with no local endpoint -> NOT_FOUND naming the VM",
           lambda: ag.unary("StartMigration", A.StartMigrationResponse,
                            A.StartMigrationRequest(vm_name="vm-a", target_host_name="h2",
                                                    target_vtep="192.0.2.12",
                                                    target_agent_address="192.0.2.12:7411",
                                                    target_migration_uri="tcp:192.0.2.12:49152")),
           SC.NOT_FOUND, "vm-a", max_s=2)
    expect("StartMigration with a bad URI -> INVALID_ARGUMENT naming it",
           lambda: ag.unary("StartMigration", A.StartMigrationResponse,
                            A.StartMigrationRequest(vm_name="vm-a", target_host_name="h2",
                                                    target_vtep="192.0.2.12",
                                                    target_agent_address="192.0.2.12:7411",
                                                    target_migration_uri="http://x")),
           SC.INVALID_ARGUMENT, "target_migration_uri", max_s=2)
    expect("GetMigration of an unknown ID -> NOT_FOUND",
           lambda: ag.unary("GetMigration", M.GetMigrationResponse,
                            M.GetMigrationRequest(migration_id="m1")), SC.NOT_FOUND, "m1", max_s=2)
    ok("ListMigrations on a host that migrated nothing: empty",
       lambda: ag.unary("ListMigrations", M.ListMigrationsResponse, M.ListMigrationsRequest()))
    expect("CancelMigration of an unknown ID -> NOT_FOUND",
           lambda: ag.unary("CancelMigration", M.CancelMigrationResponse,
                            M.CancelMigrationRequest(migration_id="m1")), SC.NOT_FOUND, "m1",
           max_s=2)
    expect("PrepareIncoming with an incoming URI but no migration_id -> INVALID_ARGUMENT",
           lambda: ag.prepare(vni=100, mac="02:00:00:00:04:09", generation=1, port_name="vm2",
                              vm_name="vm-a", incoming_migration_uri="tcp:0.0.0.0:49152"),
           SC.INVALID_ARGUMENT, "migration_id", max_s=2)


def t_watch(ag):
    # Open a stream; it stays open with nothing to say; the client cancels it.
    call = ag.watch(timeout=30)
    got = []

    def reader():
        try:
            for ev in call:
                got.append(ev)
        except grpc.RpcError as e:
            got.append(e)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    th.join(0.8)
    check("WatchEvents: the stream stays open", th.is_alive() and call.is_active(), got)
    check("WatchEvents: no event without activity", not [g for g in got if isinstance(g, E.Event)],
          got)
    # The server keeps serving while the watcher waits.
    serving("WatchEvents: other calls are served while a watcher waits", ag)
    call.cancel()
    th.join(3)
    check("WatchEvents: a client cancel ends the stream",
          not th.is_alive() and got and isinstance(got[-1], grpc.RpcError) and
          got[-1].code() == SC.CANCELLED, got)
    serving("WatchEvents: the server serves after a cancelled watcher", ag)

    # Many watchers, some cancelled, some expiring at their deadline.
    calls = [ag.watch(timeout=30) for _ in range(20)]
    short = [ag.watch(timeout=0.3) for _ in range(10)]
    time.sleep(0.2)
    for c in calls:
        c.cancel()
    codes = []
    for c in short:
        try:
            list(c)
            codes.append(SC.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    check("WatchEvents: watchers reach their deadline (DEADLINE_EXCEEDED)",
          all(c == SC.DEADLINE_EXCEEDED for c in codes), codes)
    serving("WatchEvents: the server serves after 30 watchers came and went", ag)

    # The filters are checked like every other field (types.proto conventions).
    expect("WatchEvents vni=2^24 -> INVALID_ARGUMENT naming vni (at once)",
           lambda: ag.watch(timeout=1.2, vni=1 << 24), SC.INVALID_ARGUMENT, "vni", max_s=1)
    expect("WatchEvents mac='zz' -> INVALID_ARGUMENT naming mac (at once)",
           lambda: ag.watch(timeout=1.2, mac="zz"), SC.INVALID_ARGUMENT, "mac", max_s=1)

    # Informational: whether an endpoint change made through the API is an event
    # (events.proto EVENT_TYPE_STATE_CHANGE says it should; the brief says only the fast
    # path makes events for now). Not counted.
    call = ag.watch(timeout=30)
    got = []

    def collect():
        try:
            for ev in call:
                got.append(ev)
        except grpc.RpcError:
            pass

    th = threading.Thread(target=collect, daemon=True)
    th.start()
    time.sleep(0.1)
    try:
        ag.upsert(ep(100, "02:00:00:00:0d:01", REMOTE, 1, vtep="192.0.2.95"))
        ag.delete(100, "02:00:00:00:0d:01", 1)
    except grpc.RpcError:
        pass
    th.join(0.5)
    call.cancel()
    print("NOTE WatchEvents: an UpsertEndpoint+DeleteEndpoint produced %d event(s) "
          "(events.proto promises STATE_CHANGE events; not counted)" % len(got))


def t_malformed(ag):
    before_rows = ag.list_flows(timeout=20)[0]
    before = len(before_rows)
    # Bytes that are not a protobuf message.
    for name, method, resp, payload in (
            ("Health", "Health", T.HealthResponse, b"\x0f"),
            ("GetStats", "GetStats", A.GetStatsResponse, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            ("UpsertEndpoint truncated", "UpsertEndpoint", A.UpsertEndpointResponse,
             b"\x0a\x40\x08\x01"),
            ("UpsertEndpoint bad nested", "UpsertEndpoint", A.UpsertEndpointResponse,
             b"\x0a\x03\x0f\x0f\x0f"),
            ("DeleteEndpoint group wire type", "DeleteEndpoint", A.DeleteEndpointResponse,
             b"\x0b\x0c"),
            ("Activate", "Activate", A.ActivateResponse, b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")):
        expect("malformed %s payload -> INVALID_ARGUMENT" % name,
               lambda: ag.unary(method, resp, payload, timeout=3), SC.INVALID_ARGUMENT, max_s=2)
    expect("malformed ListFlows payload -> INVALID_ARGUMENT",
           lambda: list(ag.server_stream("ListFlows", A.ListFlowsResponse, b"\x12\x7f", 3)),
           SC.INVALID_ARGUMENT)
    expect("malformed WatchEvents payload -> INVALID_ARGUMENT",
           lambda: list(ag.server_stream("WatchEvents", E.Event, b"\x1f", 3)),
           SC.INVALID_ARGUMENT, max_s=2)
    serving("the server serves after malformed payloads", ag)

    # Seeded random bytes to every unary method that takes fields: never a crash, never
    # an INTERNAL/UNKNOWN; UpsertEndpoint must refuse them all (nothing random is a valid
    # endpoint).
    rnd = random.Random(20240601)
    bad_codes = []
    upsert_not_invalid = []
    methods = (("UpsertEndpoint", A.UpsertEndpointResponse),
               ("DeleteEndpoint", A.DeleteEndpointResponse),
               ("PrepareIncoming", A.PrepareIncomingResponse),
               ("BeginForwarding", A.BeginForwardingResponse),
               ("Activate", A.ActivateResponse), ("EndForwarding", A.EndForwardingResponse))
    for i in range(300):
        payload = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 96)))
        method, resp = methods[i % len(methods)]
        try:
            ag.unary(method, resp, payload, timeout=3)
            code = SC.OK
        except grpc.RpcError as e:
            code = e.code()
        if code in (SC.INTERNAL, SC.UNKNOWN, SC.UNAVAILABLE, SC.DEADLINE_EXCEEDED):
            bad_codes.append((method, payload.hex(), code))
        if method == "UpsertEndpoint" and code != SC.INVALID_ARGUMENT:
            upsert_not_invalid.append((payload.hex(), code))
    check("random payloads: no INTERNAL, UNKNOWN, UNAVAILABLE or timeout", not bad_codes,
          bad_codes[:3])
    check("random payloads to UpsertEndpoint: all INVALID_ARGUMENT", not upsert_not_invalid,
          upsert_not_invalid[:3])
    serving("the server serves after 300 random payloads", ag)

    # Invalid field values: INVALID_ARGUMENT naming the field.
    good = dict(vni=100, mac="02:00:00:00:0e:01", state=REMOTE, vtep="192.0.2.96", generation=1)
    serial = [0]

    def variant(**kw):
        """A valid REMOTE endpoint with its own MAC, then the changes in kw."""
        serial[0] += 1
        d = dict(good, mac=mac_of(0xE0000 + serial[0]))
        d.update(kw)
        return d

    cases = [
        ("VNI 0", variant(vni=0), "endpoint.vni"),
        ("VNI 2^24", variant(vni=1 << 24), "endpoint.vni"),
        ("VNI 2^32-1", variant(vni=0xFFFFFFFF), "endpoint.vni"),
        ("empty MAC", variant(mac=""), "endpoint.mac"),
        ("bad MAC 'zz:...'", variant(mac="zz:00:00:00:0e:01"), "endpoint.mac"),
        ("short MAC", variant(mac="02:00:00:00:0e"), "endpoint.mac"),
        ("MAC with dashes", variant(mac="02-00-00-00-0e-01"), "endpoint.mac"),
        ("multicast MAC", variant(mac="03:00:00:00:0e:01"), "endpoint.mac"),
        ("broadcast MAC", variant(mac="ff:ff:ff:ff:ff:ff"), "endpoint.mac"),
        ("zero MAC", variant(mac="00:00:00:00:00:00"), "endpoint.mac"),
        ("invalid UTF-8 in mac", variant(mac=b"02:00:00:00:0e:\xff\x01"), "endpoint.mac"),
        ("overlong UTF-8 in mac", variant(mac=b"02:00:00:00:0e:\xc0\xb1"), "endpoint.mac"),
        ("generation 0", variant(generation=0), "endpoint.generation"),
        ("no generation", {k: v for k, v in good.items() if k != "generation"},
         "endpoint.generation"),
        ("state UNSPECIFIED", variant(state=0), "endpoint.state"),
        ("state 9", variant(state=9), "endpoint.state"),
        ("REMOTE vtep 'x'", variant(vtep="x"), "endpoint.vtep"),
        ("REMOTE without vtep", variant(vtep=""), "endpoint.vtep"),
        ("REMOTE vtep 0.0.0.0", variant(vtep="0.0.0.0"), "endpoint.vtep"),
        ("REMOTE vtep multicast", variant(vtep="224.0.0.1"), "endpoint.vtep"),
        ("REMOTE vtep 256.1.1.1", variant(vtep="256.1.1.1"), "endpoint.vtep"),
        ("invalid UTF-8 in vtep", variant(vtep=b"192.0.2.\xff"), "endpoint.vtep"),
        ("REMOTE with a port", variant(port="vm1"), "endpoint.port_name"),
        ("FORWARDING without vtep", variant(state=FORWARDING, vtep=""), "endpoint.vtep"),
        ("LOCAL on a port that does not exist", variant(state=LOCAL, vtep="", port="nope"),
         "endpoint.port_name"),
        ("LOCAL without port", variant(state=LOCAL, vtep=""), "endpoint.port_name"),
        ("LOCAL with a vtep set", variant(state=LOCAL, port="vm1"), "endpoint.vtep"),
        ("INCOMING with a vtep set", variant(state=INCOMING, port="vm1"), "endpoint.vtep"),
        ("invalid UTF-8 in port_name", variant(state=LOCAL, vtep="", port=b"vm\xff"),
         "endpoint.port_name"),
        ("invalid UTF-8 in vm_name", variant(vm_name=b"vm\xff"), "endpoint.vm_name"),
        ("a UTF-16 surrogate (invalid UTF-8) in vm_name", variant(vm_name=b"vm\xed\xa0\x80"),
         "endpoint.vm_name"),
        ("a code point above U+10FFFF in vm_name", variant(vm_name=b"vm\xf4\x90\x80\x80"),
         "endpoint.vm_name"),
        ("an overlong 3-byte form in vm_name", variant(vm_name=b"vm\xe0\x80\xaf"),
         "endpoint.vm_name"),
        ("ipv4 'x'", variant(ipv4=["x"]), "endpoint.ipv4_addresses[0]"),
        ("ipv4 multicast", variant(ipv4=["10.0.0.9", "224.0.0.9"]), "endpoint.ipv4_addresses[1]"),
        ("ipv4 listed twice", variant(ipv4=["10.0.0.9", "10.0.0.9"]),
         "endpoint.ipv4_addresses[1]"),
        ("ipv6 'x'", variant(ipv6=["x"]), "endpoint.ipv6_addresses[0]"),
        ("ipv6 multicast", variant(ipv6=["ff02::1"]), "endpoint.ipv6_addresses[0]"),
        ("ipv6 unspecified", variant(ipv6=["::"]), "endpoint.ipv6_addresses[0]"),
        ("64 ipv4 addresses", variant(ipv4=["10.5.0.%d" % i for i in range(1, 65)]),
         "endpoint.ipv4_addresses"),
    ]
    for what, fields, field_name in cases:
        expect("UpsertEndpoint %s -> INVALID_ARGUMENT naming %s" % (what, field_name),
               lambda: ag.upsert(raw=raw_upsert(**fields)), SC.INVALID_ARGUMENT, field_name)
    expect("UpsertEndpoint without an endpoint -> INVALID_ARGUMENT naming endpoint",
           lambda: ag.upsert(raw=b""), SC.INVALID_ARGUMENT, "endpoint")

    # The same field checks on the other endpoint methods (fields have no prefix there).
    for method, resp, base in (
            ("DeleteEndpoint", A.DeleteEndpointResponse, {}),
            ("Activate", A.ActivateResponse, {}),
            ("EndForwarding", A.EndForwardingResponse, {}),
            ("BeginForwarding", A.BeginForwardingResponse, {"target_vtep": "192.0.2.97"}),
            ("PrepareIncoming", A.PrepareIncomingResponse, {"port_name": "vm1"})):
        req_cls = getattr(A, method + "Request")
        for what, kw, word in (("VNI 0", dict(vni=0, mac="02:00:00:00:0e:02", generation=1), "vni"),
                               ("VNI 2^24", dict(vni=1 << 24, mac="02:00:00:00:0e:02",
                                                 generation=1), "vni"),
                               ("bad MAC", dict(vni=100, mac="02:00:00:00:0e", generation=1),
                                "mac"),
                               ("multicast MAC", dict(vni=100, mac="01:00:5e:00:00:01",
                                                      generation=1), "mac"),
                               ("generation 0", dict(vni=100, mac="02:00:00:00:0e:02",
                                                     generation=0), "generation")):
            req = req_cls(**dict(base, **kw))
            expect("%s %s -> INVALID_ARGUMENT naming %s" % (method, what, word),
                   lambda: ag.unary(method, resp, req), SC.INVALID_ARGUMENT, word)
        # Invalid UTF-8 in mac (field 2 in each of these requests).
        raw = w_varint(1, 100) + w_bytes(2, b"\xfe\xff:00:00:00:0e:02") + w_varint(3, 1)
        if method == "BeginForwarding":
            raw += w_bytes(4, "192.0.2.97")
        if method == "PrepareIncoming":
            raw += w_bytes(4, "vm1")
        expect("%s invalid UTF-8 in mac -> INVALID_ARGUMENT naming mac" % method,
               lambda: ag.unary(method, resp, raw), SC.INVALID_ARGUMENT, "mac")
    raw = w_varint(1, 100) + w_bytes(2, "02:00:00:00:0e:03") + w_varint(3, 1) + \
        w_bytes(4, b"vm\xc3\x28")
    expect("PrepareIncoming invalid UTF-8 in port_name -> INVALID_ARGUMENT naming port_name",
           lambda: ag.unary("PrepareIncoming", A.PrepareIncomingResponse, raw),
           SC.INVALID_ARGUMENT, "port_name")
    expect("PrepareIncoming ipv6 'x' -> INVALID_ARGUMENT naming ipv6_addresses[0]",
           lambda: ag.prepare(vni=100, mac="02:00:00:00:0e:03", generation=1, port_name="vm1",
                              ipv6_addresses=["x"]), SC.INVALID_ARGUMENT, "ipv6_addresses[0]")
    raw = w_varint(1, 100) + w_bytes(2, "02:00:00:00:0e:03") + w_varint(3, 1) + \
        w_bytes(4, b"192.0.2.\xff")
    expect("BeginForwarding invalid UTF-8 in target_vtep -> INVALID_ARGUMENT naming target_vtep",
           lambda: ag.unary("BeginForwarding", A.BeginForwardingResponse, raw),
           SC.INVALID_ARGUMENT, "target_vtep")
    after = len(ag.list_flows(timeout=20)[0])
    check("malformed requests created no endpoint", after == before, (before, after))
    serving("the server serves after the invalid field values", ag)

    # Text that a C string reader would cut short or skip over: a MAC is six pairs of hex
    # digits (types.proto), nothing else.
    for what, fields, field_name in (
            ("NUL inside mac", variant(mac=b"02:00:00:00:0e:04\x00junk"), "endpoint.mac"),
            ("NUL inside port_name", variant(state=LOCAL, vtep="", port=b"vm1\x00junk"),
             "endpoint.port_name"),
            ("NUL inside vtep", variant(vtep=b"192.0.2.96\x00junk"),
             "endpoint.vtep"),
            ("MAC with a leading space", variant(mac=" 2:00:00:00:0e:06"), "endpoint.mac"),
            ("MAC with a '+' sign", variant(mac="+2:00:00:00:0e:07"), "endpoint.mac"),
            ("MAC with a '-' sign", variant(mac="-2:00:00:00:0e:08"), "endpoint.mac")):
        expect("UpsertEndpoint %s -> INVALID_ARGUMENT naming %s" % (what, field_name),
               lambda: ag.upsert(raw=raw_upsert(**fields)), SC.INVALID_ARGUMENT, field_name)
    # Remove whatever the lenient parsing created, so later sections see a known table.
    known = set((x.vni, x.mac) for x in before_rows)
    for x in ag.list_flows(timeout=20)[0]:
        if (x.vni, x.mac) not in known:
            try:
                ag.delete(x.vni, x.mac, x.generation)
            except grpc.RpcError:
                pass


def t_unknown_methods(ag):
    for path in ("/fabric.v1.Agent/Nope", "/other.Service/X", "/fabric.v1.Agent/health",
                 "/fabric.v1.Agent"):
        mc = ag.ch.unary_unary(path)
        expect("unary %s -> UNIMPLEMENTED quickly" % path, lambda: mc(b"", timeout=10),
               SC.UNIMPLEMENTED, max_s=1.0)
    mc = ag.ch.unary_stream("/other.Service/Stream")
    expect("server-streaming /other.Service/Stream -> UNIMPLEMENTED quickly",
           lambda: list(mc(b"", timeout=10)), SC.UNIMPLEMENTED, max_s=1.0)
    mc = ag.ch.stream_unary("/other.Service/Upload")
    expect("client-streaming /other.Service/Upload -> UNIMPLEMENTED quickly",
           lambda: mc(iter([b"a", b"b"]), timeout=10), SC.UNIMPLEMENTED, max_s=1.0)
    serving("the server serves after unknown methods", ag)


def t_oversized(ag):
    big = raw_upsert(vni=100, mac="02:00:00:00:0f:01", state=REMOTE, vtep="192.0.2.98",
                     generation=1, vm_name="v" * (5 << 20))
    expect("UpsertEndpoint of 5 MiB -> RESOURCE_EXHAUSTED",
           lambda: ag.upsert(raw=big, timeout=10), SC.RESOURCE_EXHAUSTED, max_s=5)
    expect("ListFlows request of 5 MiB -> RESOURCE_EXHAUSTED",
           lambda: list(ag.server_stream("ListFlows", A.ListFlowsResponse,
                                         w_bytes(2, b"x" * (5 << 20)), 10)),
           SC.RESOURCE_EXHAUSTED, max_s=5)
    msg = w_bytes(1, raw_endpoint(vni=100, mac="02:00:00:00:0f:02", state=REMOTE,
                                  vtep="192.0.2.98", generation=1, vm_name="v" * (5 << 20)))
    expect("UpsertEndpoints with a 5 MiB message -> RESOURCE_EXHAUSTED",
           lambda: ag.batch([msg], timeout=10), SC.RESOURCE_EXHAUSTED, max_s=5)
    check("oversized requests created nothing",
          ag.flow(100, "02:00:00:00:0f:01") is None and ag.flow(100, "02:00:00:00:0f:02") is None)
    serving("the server serves after oversized messages", ag)


def t_cancel_streams(ag):
    # ListFlows over BIG_N rows, cancelled after the first page, ten times.
    firsts = []
    for i in range(10):
        call = ag.server_stream("ListFlows", A.ListFlowsResponse, A.ListFlowsRequest(vni=BIG_VNI),
                                20)
        try:
            first = next(call)
            firsts.append(len(first.flows))
        except (grpc.RpcError, StopIteration) as e:
            firsts.append(e)
        call.cancel()
        try:
            for _ in call:
                pass
            code = SC.OK
        except grpc.RpcError as e:
            code = e.code()
        if i == 0:
            check("ListFlows cancelled after its first page ends CANCELLED", code == SC.CANCELLED,
                  code)
    check("ListFlows cancelled streams each got a first page (1..1024 rows)",
          all(isinstance(n, int) and 0 < n <= 1024 for n in firsts), firsts)
    # A stream whose client never reads, then goes away.
    call = ag.server_stream("ListFlows", A.ListFlowsResponse, A.ListFlowsRequest(), 20)
    time.sleep(0.2)
    call.cancel()
    serving("the server serves after cancelled ListFlows streams", ag)
    rows, _ = ag.list_flows(vni=BIG_VNI, timeout=20)
    check("a full ListFlows after the cancelled ones lists every row", len(rows) == BIG_N,
          len(rows))

    # A client stream that ends without its half-close (the client cancels, or its
    # deadline passes): the batch is incomplete, so nothing may be applied.
    mc = ag.client_stream_callable("UpsertEndpoints", A.UpsertEndpointsResponse)
    for how, vni in (("cancelled by the client", 302), ("past its deadline", 303)):
        gate = threading.Event()

        def gen(vni=vni, gate=gate):
            yield A.UpsertEndpointsRequest(endpoints=[
                ep(vni, mac_of(0x302000 + i), REMOTE, 1, vtep="192.0.2.99") for i in range(3)])
            gate.wait(10)  # the stream stays open, no half-close

        fut = mc.future(gen(), timeout=(0.6 if vni == 303 else 20))
        time.sleep(0.3)
        if vni == 302:
            fut.cancel()
        try:
            fut.result(timeout=5)
            code = SC.OK
        except grpc.FutureCancelledError:
            code = SC.CANCELLED
        except grpc.RpcError as e:
            code = e.code()
        check("UpsertEndpoints %s ends %s" % (how, "CANCELLED" if vni == 302 else
                                              "DEADLINE_EXCEEDED"),
              code == (SC.CANCELLED if vni == 302 else SC.DEADLINE_EXCEEDED), code)
        time.sleep(0.2)
        rows = ag.list_flows(vni=vni)[0]
        check("UpsertEndpoints %s before its half-close: nothing applied" % how, rows == [],
              "%d of the 3 streamed endpoints were applied" % len(rows))
        gate.set()
        for x in rows:
            try:
                ag.delete(x.vni, x.mac, x.generation)
            except grpc.RpcError:
                pass

    # Many calls at once on one channel.
    futs = [ag.ch.unary_unary(AGENT + "Health", request_serializer=ser,
                              response_deserializer=T.HealthResponse.FromString).future(
        T.HealthRequest(), timeout=10) for _ in range(200)]
    codes = []
    for f in futs:
        try:
            f.result()
            codes.append(SC.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    check("200 concurrent Health calls all answer OK", all(c == SC.OK for c in codes),
          [c for c in codes if c != SC.OK][:3])
    serving("the server serves after the cancelled streams", ag)


def t_lock(env, a_proc):
    p = env.start("c", a_proc.sock, vtep="192.0.2.3", wait=False)
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    out = env.log_text(p)
    check("a second fabricd on a served socket path fails to start", rc not in (None, 0),
          "exit %s; output: %s" % (rc, out[-400:]))
    check("the second fabricd says the socket is served by another live process",
          "served by another live process" in out, out[-400:])
    check("the second fabricd names the live process's pid", "pid %d" % a_proc.pid in out,
          out[-400:])
    env.stop(p)
    shutil.rmtree("/var/run/dpdk/" + p.dpdk_prefix, ignore_errors=True)
    check("the first fabricd is still running", a_proc.poll() is None)
    check("the socket file is still there", os.path.exists(a_proc.sock))
    ch = grpc.insecure_channel("unix:" + a_proc.sock)
    serving("the first fabricd still answers on a new connection", Agent(ch))
    ch.close()


def t_shutdown(env, a_proc, ag):
    """SIGTERM with streams open: fabricd ends them and exits 0, removing its socket."""
    w = ag.watch(timeout=30)
    lf = ag.server_stream("ListFlows", A.ListFlowsResponse, A.ListFlowsRequest(), 30)
    try:
        next(lf)
    except (grpc.RpcError, StopIteration):
        pass
    ended = []

    def reader():
        try:
            for _ in w:
                pass
            ended.append(SC.OK)
        except grpc.RpcError as e:
            ended.append(e.code())

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    time.sleep(0.2)
    rc, dt = env.stop(a_proc, limit=8)
    check("SIGTERM with streams open: fabricd exits 0 within 8 s", rc == 0,
          "exit %s after %.1fs; log tail: %s" % (rc, dt, env.log_text(a_proc)[-300:]))
    th.join(3)
    check("SIGTERM: the open WatchEvents stream ends (not left hanging)",
          ended and ended[0] in (SC.UNAVAILABLE, SC.CANCELLED), ended)
    lf.cancel()
    check("SIGTERM: the socket file is removed", not os.path.exists(a_proc.sock))


def t_empty_batch(env):
    p = env.start("d", env.path("d.sock"), vtep="192.0.2.4")
    ch = grpc.insecure_channel("unix:" + p.sock)
    ag = Agent(ch)
    r = ok("UpsertEndpoints with no message at all -> OK", lambda: ag.batch([]))
    if r:
        check("UpsertEndpoints empty: received 0, created 0, updated 0",
              (r.endpoints_received, r.endpoints_created, r.endpoints_updated) == (0, 0, 0), r)
    try:
        p.wait(0.5)
    except subprocess.TimeoutExpired:
        pass
    alive = p.poll() is None
    check("fabricd survives an empty UpsertEndpoints stream", alive,
          "exit %s; log tail: %s" % (p.poll(), env.log_text(p)[-300:]))
    if not alive:
        print("NOTE restarting fabricd d for the next check")
        ch.close()
        env.stop(p)
        shutil.rmtree("/var/run/dpdk/" + p.dpdk_prefix, ignore_errors=True)
        p = env.start("d", env.path("d.sock"), vtep="192.0.2.4")
        ch = grpc.insecure_channel("unix:" + p.sock)
        ag = Agent(ch)
    r = ok("UpsertEndpoints with one message of no endpoints -> OK",
           lambda: ag.batch([A.UpsertEndpointsRequest()]))
    try:
        p.wait(0.5)
    except subprocess.TimeoutExpired:
        pass
    check("fabricd survives an UpsertEndpoints message with no endpoints", p.poll() is None,
          "exit %s" % p.poll())
    ch.close()
    env.stop(p)


class TlsServer:
    """fabricd B: unix socket plus TCP with mutual TLS. If a call kills it, the death is a
    failed check and a fresh B (same port, same socket path) serves the next check, so
    that one crash does not hide the other results."""

    def __init__(self, env, rd, port):
        self.env, self.rd, self.port = env, rd, port
        self.n = 0
        self.proc = None
        self.start()

    def start(self):
        self.n += 1
        tag = "b" if self.n == 1 else "b%d" % self.n
        self.proc = self.env.start(tag, self.env.path("b.sock"), extra=[
            "--host-name", "host-b",  # overrides host-<tag>: the last --host-name wins
            "--listen-tcp", "127.0.0.1:%d" % self.port,
            "--tls-ca", self.env.path("pki", "ca.pem"),
            "--tls-cert", self.env.path("pki", "server.pem"),
            "--tls-key", self.env.path("pki", "server.key"),
            "--allow-peer", "controller-1"])

    def agent(self, cert=None, ca="ca.pem"):
        rd = self.rd
        if cert:
            creds = grpc.ssl_channel_credentials(rd(ca), rd(cert + ".key"), rd(cert + ".pem"))
        else:
            creds = grpc.ssl_channel_credentials(rd(ca))
        return Agent(grpc.secure_channel("127.0.0.1:%d" % self.port, creds))

    def local(self):
        return Agent(grpc.insecure_channel("unix:" + self.env.path("b.sock")))

    def survived(self, what):
        p = self.proc
        try:
            p.wait(0.3)
        except subprocess.TimeoutExpired:
            pass
        alive = p.poll() is None
        check("fabricd B survives %s" % what, alive, "" if alive else
              "exit %s (%s); log tail: %r" % (p.returncode, "SIGSEGV" if p.returncode == -11
                                              else "", self.env.log_text(p)[-200:]))
        if not alive:
            self.start()
        return alive


def t_mtls(srv):
    def refused(name, ag):
        expect(name, lambda: ag.health(timeout=3), SC.UNAVAILABLE, max_s=3.5)
        ag.ch.close()

    # Who cannot connect at all.
    refused("TLS without a client certificate -> UNAVAILABLE", srv.agent(None))
    refused("client certificate from another CA -> UNAVAILABLE", srv.agent("stranger"))
    refused("plaintext HTTP/2 to the TLS port -> UNAVAILABLE",
            Agent(grpc.insecure_channel("127.0.0.1:%d" % srv.port)))
    refused("client that does not trust the server's CA -> UNAVAILABLE",
            srv.agent("allowed", ca="otherca.pem"))
    srv.survived("refused TLS clients")

    # A verified but not allowed peer reads.
    reader = srv.agent("reader")
    h = ok("reader (verified, not allowed): Health", lambda: reader.health())
    if h:
        check("reader: Health over TCP answers host-b", h.host_name == "host-b", h.host_name)
    ok("reader: ListFlows", lambda: reader.list_flows())
    ok("reader: GetStats", lambda: reader.stats())
    call = reader.watch(timeout=0.5)
    expect("reader: WatchEvents opens (ends at its deadline)", lambda: list(call),
           SC.DEADLINE_EXCEEDED)
    expect("reader: GetMigration -> NOT_FOUND (allowed to read)",
           lambda: reader.unary("GetMigration", M.GetMigrationResponse,
                                M.GetMigrationRequest(migration_id="m1")), SC.NOT_FOUND)
    reader.ch.close()
    srv.survived("reads over mutual TLS")

    # The allowed peer writes.
    e = ep(100, "02:00:00:00:10:01", REMOTE, 1, vtep="192.0.2.120")
    allowed = srv.agent("allowed")
    r = ok("allowed peer (CN controller-1): UpsertEndpoint", lambda: allowed.upsert(e))
    if r:
        check("allowed peer: UpsertEndpoint answers the endpoint", not same_endpoint(r.endpoint, e),
              same_endpoint(r.endpoint, e))
    allowed.ch.close()
    if srv.survived("an allowed peer's UpsertEndpoint"):
        allowed = srv.agent("allowed")
        f = ok("allowed peer: ListFlows finds the endpoint", lambda: allowed.flow(100, e.mac))
        check("allowed peer: the endpoint is there", f is not None and not isinstance(f, list), f)
        allowed.ch.close()

    # The reader may not write: every mutating method answers PERMISSION_DENIED.
    for what, thunk, words in (
            ("UpsertEndpoint", lambda a: a.upsert(ep(100, "02:00:00:00:10:02", REMOTE, 1,
                                                     vtep="192.0.2.120")), ("reader-1",)),
            ("DeleteEndpoint", lambda a: a.delete(100, e.mac, 1), ()),
            ("UpsertEndpoints", lambda a: a.batch([[ep(100, "02:00:00:00:10:03", REMOTE, 1,
                                                       vtep="192.0.2.120")]]), ()),
            ("PrepareIncoming", lambda a: a.prepare(vni=100, mac="02:00:00:00:10:04",
                                                    generation=1, port_name="vm1"), ()),
            ("BeginForwarding", lambda a: a.begin(vni=100, mac=e.mac, generation=2,
                                                  target_vtep="192.0.2.121"), ()),
            ("Activate", lambda a: a.activate(vni=100, mac=e.mac, generation=1), ()),
            ("EndForwarding", lambda a: a.end(vni=100, mac=e.mac, generation=1), ()),
            ("StartMigration", lambda a: a.unary("StartMigration", A.StartMigrationResponse,
                                                 A.StartMigrationRequest(vm_name="x")), ()),
            ("CancelMigration", lambda a: a.unary("CancelMigration", M.CancelMigrationResponse,
                                                  M.CancelMigrationRequest()), ())):
        reader = srv.agent("reader")
        expect("reader: %s -> PERMISSION_DENIED%s" % (what, " naming the peer" if words else ""),
               lambda: thunk(reader), SC.PERMISSION_DENIED, *words)
        reader.ch.close()
        srv.survived("a refused %s" % what)
    reader = srv.agent("reader")
    try:
        rows = reader.list_flows()[0]
        check("the reader's refused writes changed nothing",
              not [x for x in rows if x.mac in ("02:00:00:00:10:02", "02:00:00:00:10:03",
                                                "02:00:00:00:10:04")] and
              all(x.generation == 1 and x.state == REMOTE for x in rows if x.mac == e.mac),
              [str(x).replace("\n", " ") for x in rows])
    except grpc.RpcError as err:
        check("the reader's refused writes changed nothing", False, rpc_err(err))
    reader.ch.close()

    # Informational (not counted): a certificate with several SANs, the allowed name being
    # the second. fabricd's --help says "a certificate identity (CN or SAN)"; rpc_server.c
    # reads only the first value of grpc_auth_context_peer_identity.
    ag = srv.agent("multisan")
    try:
        ag.upsert(ep(100, "02:00:00:00:10:06", REMOTE, 1, vtep="192.0.2.120"))
        note = "allowed"
    except grpc.RpcError as err:
        note = rpc_err(err)
    ag.ch.close()
    print("NOTE a client cert with SANs [other-name, controller-1] (CN controller-1) doing "
          "UpsertEndpoint: %s (not counted)" % note)
    srv.survived("a multi-SAN client's UpsertEndpoint")

    # The local socket of a fabricd that also serves TCP: the file's permissions decide
    # (rpc_server.c: "the unix socket: the file's permissions decide"), so a local client
    # may write.
    local = srv.local()
    ok("unix socket of a TCP-serving fabricd: UpsertEndpoint is allowed",
       lambda: local.upsert(ep(100, "02:00:00:00:10:05", REMOTE, 5, vtep="192.0.2.120")))
    local.ch.close()
    srv.survived("a local UpsertEndpoint")


# ----------------------------------------------------------------------------------------


def section(name, fn, *args):
    print("# %s" % name)
    sys.stdout.flush()
    t0 = time.monotonic()
    try:
        fn(*args)
    except Exception as e:  # a crash of the test itself, or an unexpected RpcError
        import traceback
        traceback.print_exc()
        detail = rpc_err(e) if isinstance(e, grpc.RpcError) else repr(e)
        check("section '%s' ran to its end" % name, False, detail)
    if VERBOSE:
        print("# %s: %.2fs" % (name, time.monotonic() - t0))


def main():
    global A, T, E, M, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fabricd", required=True, help="the fabricd binary")
    ap.add_argument("--workdir", help="scratch directory (default: a new temporary one, "
                                      "removed at the end)")
    ap.add_argument("--prefix", default="gitest%d" % os.getpid(),
                    help="DPDK --file-prefix stem (one letter is appended per fabricd)")
    ap.add_argument("--proto-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose

    if os.geteuid() != 0:
        print("SKIP: fabricd needs root (DPDK); run as root")
        return 77
    for tool in ("protoc", "openssl"):
        if not shutil.which(tool):
            print("SKIP: %s is not installed" % tool)
            return 77
    if not os.access(args.fabricd, os.X_OK):
        print("FAIL: %s is not an executable fabricd" % args.fabricd)
        print("0 passed, 1 failed")
        return 1

    own_dir = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="fabricd-interop.")
    os.makedirs(workdir, exist_ok=True)
    env = Env(os.path.abspath(args.fabricd), workdir, args.prefix)
    t_start = time.monotonic()
    try:
        # Messages generated now, by protoc, from the repository's .proto files.
        gen = env.path("py")
        os.makedirs(gen, exist_ok=True)
        proto_dir = os.path.abspath(args.proto_dir)
        protos = sorted(glob.glob(os.path.join(proto_dir, "fabric", "v1", "*.proto")))
        subprocess.run(["protoc", "--python_out=" + gen, "-I", proto_dir] + protos, check=True)
        sys.path.insert(0, gen)
        from fabric.v1 import agent_pb2, types_pb2, events_pb2
        A, T, E = agent_pb2, types_pb2, events_pb2

        from fabric.v1 import migration_pb2
        M = migration_pb2

        rd = make_pki(env.path("pki"))
        a_proc = env.start("a", env.path("a.sock"))
        srv = TlsServer(env, rd, free_tcp_port())
        ach = grpc.insecure_channel("unix:" + a_proc.sock)
        ag = Agent(ach)

        section("Health", t_health, ag, "a")
        section("UpsertEndpoint / DeleteEndpoint", t_upsert_delete, ag)
        section("UpsertEndpoints", t_batch, ag)
        section("ListFlows filters", t_list_flows, ag)
        section("ListFlows pages", t_pages, ag)
        section("GetStats", t_stats, ag)
        section("migration steps", t_migration, ag)
        section("migration driver RPCs", t_migration_rpcs, ag)
        section("WatchEvents", t_watch, ag)
        section("malformed payloads and invalid fields", t_malformed, ag)
        section("unknown methods", t_unknown_methods, ag)
        section("oversized messages", t_oversized, ag)
        section("cancelled streams", t_cancel_streams, ag)
        check("fabricd A is still running after the unix-socket sections", a_proc.poll() is None,
              "exit %s; log tail: %s" % (a_proc.poll(), env.log_text(a_proc)[-300:]))
        section("socket lock", t_lock, env, a_proc)
        section("graceful shutdown", t_shutdown, env, a_proc, ag)
        ach.close()
        section("mutual TLS over TCP", t_mtls, srv)
        env.stop(srv.proc)
        section("empty UpsertEndpoints", t_empty_batch, env)
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("test setup", False, repr(e))
    finally:
        env.cleanup()
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    print("# %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (R.passed, len(R.failed)))
    return 0 if not R.failed else 1


if __name__ == "__main__":
    sys.exit(main())
