#!/usr/bin/env python3
"""Checks what scripts/gpu-check.sh --cpu-drivers wrote: the exit status (3: everything that can
run without a GPU ran), one summary line per section with its result, the conformance reports,
the GEMM table beside torch, the training-step ratios and the per-step counters.

    check_gpu_check.py OUTDIR EXIT_STATUS"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from check import check, check_summary  # noqa: E402

FILES = {"summary.txt", "system.txt", "log.txt", "conform-vulkan.json", "conform-opencl.json",
         "gemm.txt", "step.txt"}
NO_GPU = ["gpu", "torch-cuda"]
RAN = ["libraries", "drivers", "devices", "conform-vulkan", "conform-opencl", "gemm-vulkan",
       "gemm-opencl", "gemm-torch", "step-opencl-convnet-b2", "step-vulkan-convnet-b2", "counters"]
NUM = r"([0-9]+(?:\.[0-9]+)?(?:e[-+][0-9]+)?)"


def main(outdir, rc):
    check(rc == 3, "exit status %d, expected 3 (all ran but the GPU-only sections)" % rc)
    have = set(os.listdir(outdir)) if os.path.isdir(outdir) else set()
    check(have == FILES, "files %s, expected %s" % (sorted(have), sorted(FILES)))
    read = lambda f: open(os.path.join(outdir, f), encoding="utf-8").read() if f in have else ""

    summary = read("summary.txt")
    results = {}
    for m in re.finditer(r"^([a-z0-9-]+): (ok|not run|FAILED[^[]*|TIMED OUT) \[[0-9]+ s\](.*)$",
                         summary, re.M):
        check(m.group(1) not in results, "section %s listed twice" % m.group(1))
        results[m.group(1)] = (m.group(2), m.group(3))
    check(set(results) == set(NO_GPU + RAN),
          "sections %s, expected %s" % (sorted(results), sorted(NO_GPU + RAN)))
    for s in NO_GPU:
        r = results.get(s, ("missing", ""))
        check(r[0] == "not run" and "no NVIDIA GPU" in r[1], "%s: %s%s" % (s, *r))
    for s in RAN:
        r = results.get(s, ("missing", ""))
        check(r[0] == "ok", "%s: %s%s" % (s, *r))
    check(re.search(r"^result: every section that could run passed; 2 of 13 not run$", summary, re.M),
          "no or wrong result line")

    for be in ("vulkan", "opencl"):
        try:
            rep = json.loads(read("conform-%s.json" % be))
        except ValueError as e:
            check(False, "conform-%s.json: %s" % (be, e))
            continue
        devs = rep.get("devices", [])
        check(len(devs) == 1 and devs[0]["backend"] == be and devs[0]["passed"] > 0
              and devs[0]["failed"] == 0 and not devs[0]["error"],
              "conform-%s.json: %s" % (be, devs))
        check(re.search(r"^conform-%s: [1-9][0-9]* passed, 0 failed$" % be, summary, re.M),
              "summary: no conform-%s figure" % be)

    gemm = read("gemm.txt")
    rows = re.findall(r"^matmul [0-9x]+ +%s +%s +%s +%s +%s +%s$" % ((NUM,) * 6), gemm, re.M)
    check(len(rows) >= 3 and all(float(r[2]) > 0 and float(r[4]) > 0 for r in rows),
          "gemm.txt: no matmul rows with torch, vulkan and opencl times")
    for be in ("vulkan", "opencl"):
        for fam in ("matmul", "conv"):
            check(re.search(r"^gemm-torch: %s %s %s \(geometric mean of [1-9]" % (be, fam, NUM),
                            summary, re.M), "summary: no %s %s speed vs torch" % (be, fam))

    step = read("step.txt")
    for be in ("opencl", "vulkan"):
        check(re.search(r"^step-%s-convnet-b2: convnet gessl speed %s " % (be, NUM), summary, re.M),
              "summary: no %s step ratio" % be)
    check(len(re.findall(r"^convnet    gessl +speed [0-9.]+ ", step, re.M)) == 2,
          "step.txt: not two gessl/torch ratios")
    m = re.search(r"^counters: opencl +%s +- +- +([0-9]+) +([0-9]+) +[0-9]+%%$" % NUM, summary, re.M)
    check(m and int(m.group(2)) > 0, "summary: no opencl counters (launches, waits)")

    system = read("system.txt")
    check(re.search(r"^  opencl:0 ", system, re.M) and re.search(r"^  vulkan:0 ", system, re.M),
          "system.txt: gessl devices lists no opencl:0 and vulkan:0")
    check("not found" not in system, "system.txt: a library was not found")

    check_summary()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
