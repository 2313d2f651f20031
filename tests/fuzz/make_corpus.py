#!/usr/bin/python3
"""Turns the packet vectors into a libFuzzer seed corpus for fuzz_decide: one file per
case, its first byte the arrival port (0 uplink, else the VM port's index), then the frame.
Usage: make_corpus.py VECTOR_DIR OUT_DIR"""
import os
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    n = 0
    for name in sorted(os.listdir(src)):
        if not name.endswith(".vec"):
            continue
        ports = {"uplink": 0}
        frame = None
        with open(os.path.join(src, name)) as f:
            for line in f:
                words = line.split()
                if len(words) >= 4 and words[0] == "port" and words[2] == "index":
                    ports[words[1]] = int(words[3])
                elif len(words) == 3 and words[0] == "in":
                    frame = bytes([ports[words[1]] % 256]) + bytes.fromhex(words[2])
        if frame is None:
            sys.exit(f"make_corpus: {name} has no 'in' line")
        with open(os.path.join(out, name[:-4]), "wb") as f:
            f.write(frame)
        n += 1
    print(f"make_corpus: {n} seeds in {out}")


if __name__ == "__main__":
    main()
