#!/usr/bin/python3
"""Seeds for fuzz_agent_request: valid requests of each type, built with Debian's protobuf
from the .proto files (protoc --python_out into a temporary folder).
Usage: make_request_corpus.py PROTO_DIR OUT_DIR"""
import os
import subprocess
import sys
import tempfile


def main():
    proto, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    gen = tempfile.mkdtemp()
    files = [os.path.join(proto, "fabric", "v1", f) for f in sorted(os.listdir(os.path.join(proto, "fabric", "v1"))) if f.endswith(".proto")]
    subprocess.run(["protoc", f"--python_out={gen}", "-I", proto] + files, check=True)
    sys.path.insert(0, gen)
    from fabric.v1 import agent_pb2 as A, types_pb2 as T, events_pb2 as E

    def ep(i, state=T.ENDPOINT_STATE_REMOTE):
        e = T.Endpoint(vni=100, mac=f"52:54:00:00:00:{i:02x}", state=state, generation=i + 1,
                       ipv4_addresses=[f"10.0.0.{i + 1}"], ipv6_addresses=[f"fd00::{i + 1:x}"])
        if state in (T.ENDPOINT_STATE_LOCAL, T.ENDPOINT_STATE_INCOMING):
            e.port_name = "vm1"
        else:
            e.vtep = "192.0.2.2"
        return e

    seeds = [
        (0, A.UpsertEndpointRequest(endpoint=ep(1))),
        (0, A.UpsertEndpointRequest(endpoint=ep(2, T.ENDPOINT_STATE_LOCAL))),
        (1, A.UpsertEndpointsRequest(endpoints=[ep(i) for i in range(3, 8)])),
        (2, A.DeleteEndpointRequest(vni=100, mac="52:54:00:00:00:01", generation=9)),
        (3, A.PrepareIncomingRequest(vni=100, mac="52:54:00:00:00:09", generation=3, port_name="vm1",
                                     ipv4_addresses=["10.0.0.9"])),
        (4, A.BeginForwardingRequest(vni=100, mac="52:54:00:00:00:02", generation=5,
                                     target_vtep="192.0.2.3")),
        (5, A.ListFlowsRequest(vni=100, mac="52:54:00:00:00:01", state=T.ENDPOINT_STATE_LOCAL)),
        (6, E.WatchEventsRequest(vni=100, types=[E.EVENT_TYPE_ACTIVATION])),
    ]
    for n, (kind, msg) in enumerate(seeds):
        with open(os.path.join(out, f"request-{n}"), "wb") as f:
            f.write(bytes([kind]) + msg.SerializeToString())
    print(f"make_request_corpus: {len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
