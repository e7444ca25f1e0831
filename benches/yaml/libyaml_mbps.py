#!/usr/bin/env python3
"""libyaml's reading speed (PyYAML's CSafeLoader) on files given on the command line.

  libyaml_mbps.py [--rounds N] FILE...

The counterpart of berth-yaml's `yaml_mbps` example, reported the same way: the files are read
into memory first, each round parses every file once, the median round is printed, for the
events alone (`yaml.parse`) and for full loading into Python values (`yaml.load_all`).
"""

import argparse
import statistics
import time

import yaml


def median(name, nbytes, rounds, f):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    s = statistics.median(times)
    print(f"{name:<40} median {s * 1e3:8.1f} ms  {nbytes / s / 1e6:6.1f} MB/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    if not yaml.__with_libyaml__:
        raise SystemExit("PyYAML was built without libyaml: CSafeLoader is missing")
    texts = [open(p, encoding="utf-8").read() for p in args.files]
    nbytes = sum(len(t.encode()) for t in texts)
    loader = yaml.CSafeLoader
    docs = sum(1 for t in texts for d in yaml.load_all(t, Loader=loader) if d is not None)
    print(f"input: {len(texts)} files, {docs} documents, {nbytes / 1e6:.1f} MB "
          f"(PyYAML {yaml.__version__}, libyaml {yaml._yaml.get_version_string()})")
    median("libyaml events (yaml.parse, CSafeLoader)", nbytes, args.rounds,
           lambda: sum(sum(1 for _ in yaml.parse(t, Loader=loader)) for t in texts))
    median("libyaml full (yaml.load_all, CSafeLoader)", nbytes, args.rounds,
           lambda: sum(sum(1 for _ in yaml.load_all(t, Loader=loader)) for t in texts))


if __name__ == "__main__":
    main()
