"""The attn-diff side of the worker protocol (SPEC section 13), written here from the SPEC to drive
the helpers that speak it (attn_diff.serve, examples/cpp_worker, torch_candidate.py --worker) one
message at a time: start the worker, send a line, read the reply with a deadline, watch it exit."""
import json
import os
import select
import subprocess
import time

PROTOCOL = "attn-diff.worker.v1"
HANDSHAKE = {"protocol": PROTOCOL}


class Worker:
    """A worker process: `cmd` through /bin/sh as attn-diff starts it; stderr kept in a file."""

    def __init__(self, cmd, log_path, env=None, cwd=None):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(["/bin/sh", "-c", cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd=cwd)
        self._buf = b""
        self.lines = []  # every line the worker wrote to stdout, in order

    def send_line(self, raw):
        self.proc.stdin.write(raw if isinstance(raw, bytes) else raw.encode())
        self.proc.stdin.flush()

    def send(self, obj):
        self.send_line(json.dumps(obj) + "\n")

    def recv_line(self, timeout=60):
        """The next stdout line (bytes, without '\\n'), or None at EOF; AssertionError past the deadline."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no reply within {timeout} s; worker log:\n{self.log()}"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                if self._buf:
                    line, self._buf = self._buf, b""
                    self.lines.append(line)
                    return line
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        self.lines.append(line)
        return line

    def recv(self, timeout=60):
        """The next reply as a dict; fails the test on EOF or on a line that is not a JSON object."""
        line = self.recv_line(timeout)
        assert line is not None, f"the worker closed stdout; log:\n{self.log()}"
        msg = json.loads(line)
        assert isinstance(msg, dict), line
        return msg

    def request(self, rid, inputs, out, case=None):
        self.send({"id": rid, "case": case or os.path.basename(str(inputs)), "inputs": str(inputs), "out": str(out),
                   "layout": "bshd"})
        return self.recv()

    def handshake(self):
        self.send(HANDSHAKE)
        return self.recv()

    def close_stdin(self):
        self.proc.stdin.close()

    def wait(self, timeout=60):
        """The exit code, after checking the worker wrote nothing more on stdout."""
        rest = self.recv_line(timeout)
        assert rest is None, f"unexpected line after the last reply: {rest!r}"
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def log(self):
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._log.closed:
            self._log.close()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
