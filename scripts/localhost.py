"""Local endpoints for the scripts that run the product on one machine (demo.py, peak-rss.py):
a free port on 127.0.0.1, and waiting until a started server listens on it."""

import socket
import sys
import time
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, proc, log, timeout=120):
    """Returns once 127.0.0.1:port accepts; exits with `log` if `proc` dies first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            sys.exit(f"{Path(sys.argv[0]).stem}: {what} exited:\n{Path(log).read_text()}")
        time.sleep(0.2)
    sys.exit(f"{Path(sys.argv[0]).stem}: {what} did not listen on {port} in {timeout} s")
