#!/usr/bin/python3
"""A stand-in --candidate-worker for tests/cli/worker_protocol_test.cpp (SPEC §13, attn-diff.worker.v1).

    fake_worker.py MODE [CASE]

It answers the handshake as "fake" and serves each request by copying the dump's tiled.npy (the
correct tiled kernel's output) to "out", so every case passes by construction, except where MODE
says otherwise for the case named CASE (every case when CASE is omitted):

    pass         serve every case
    crash        die by SIGSEGV on CASE (after a line on stderr)
    hang         never answer CASE
    garbage      answer CASE with a line that is not JSON
    wrong-id     answer CASE with the wrong id
    error        answer CASE with {"ok": false, "error": ...}
    unsupported  answer CASE with {"ok": false, "unsupported": ...}
    zeros        write an all-zero output for CASE (a failing kernel)
    nothing      answer CASE with "ok": true without writing the output
    sleep        on CASE, write $WORKER_SERVING then sleep (for the Ctrl-C test)
    exit-after-hello  exit right after the handshake
    exit-after-first  exit right after answering the first request
    bad-hello    answer the handshake with a line that is not JSON
    v2           answer the handshake with protocol attn-diff.worker.v2
    bhsd-only    declare supports.layouts ["bhsd"]
    stubborn     at the shutdown (or the end of stdin), ignore SIGTERM and sleep on

Each start appends "worker PID" and "child PID" (a `sleep` it leaves running in its process group)
to $WORKER_PIDS, so a test can check that attn-diff left nothing behind.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

mode = sys.argv[1]
target = sys.argv[2] if len(sys.argv) > 2 else None
child = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL)
if os.environ.get("WORKER_PIDS"):
    with open(os.environ["WORKER_PIDS"], "a") as f:
        f.write(f"worker {os.getpid()}\nchild {child.pid}\n")


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def write_zeros(path, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{n}, " for n in shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    count = 1
    for n in shape:
        count *= n
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * (4 * count))


hello = json.loads(sys.stdin.readline())
print(f"fake worker: handshake {hello}", file=sys.stderr, flush=True)
if mode == "bad-hello":
    print("Loading kernel... done", flush=True)
elif mode == "v2":
    reply({"protocol": "attn-diff.worker.v2", "name": "fake"})
elif mode == "bhsd-only":
    reply({"protocol": hello["protocol"], "name": "fake", "supports": {"layouts": ["bhsd"]}})
else:
    reply({"protocol": hello["protocol"], "name": "fake", "supports": {"backward": False}})
if mode == "exit-after-hello":
    sys.exit(0)

served = 0
for line in sys.stdin:
    req = json.loads(line)
    if req.get("op") == "shutdown":
        if mode == "stubborn":
            print("fake worker: not stopping", file=sys.stderr, flush=True)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(3600)
        break
    name = req["case"]
    hit = target is None or name == target
    print(f"fake worker: request {req['id']} case {name}", file=sys.stderr, flush=True)
    if hit and mode == "crash":
        print(f"fake worker: crashing on {name}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
    if hit and mode == "hang":
        time.sleep(3600)
    if hit and mode == "sleep":
        with open(os.environ["WORKER_SERVING"], "w") as f:
            f.write(name)
        time.sleep(3600)
    if hit and mode == "garbage":
        print("computing attention for " + name, flush=True)
        continue
    if hit and mode == "wrong-id":
        reply({"id": req["id"] + 100, "ok": True})
        continue
    if hit and mode == "error":
        print("fake worker: head_dim too large for the SBUF", file=sys.stderr, flush=True)
        reply({"id": req["id"], "ok": False, "error": "kernel launch failed"})
        continue
    if hit and mode == "unsupported":
        reply({"id": req["id"], "ok": False, "unsupported": "no sinks in this kernel"})
        continue
    if hit and mode == "nothing":
        reply({"id": req["id"], "ok": True})
        continue
    if hit and mode == "zeros":
        case = json.load(open(os.path.join(req["inputs"], "case.json")))["cases"][0]
        heads, dim = case["heads"], case["head_dim"]
        write_zeros(req["out"], [case.get("batch", 1), case["tokens"], heads, dim])
    else:
        shutil.copyfile(os.path.join(req["inputs"], "tiled.npy"), req["out"])
    reply({"id": req["id"], "ok": True, "extra": "ignored"})
    served += 1
    if mode == "exit-after-first":
        sys.exit(0)
