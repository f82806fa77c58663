#!/usr/bin/env python3
"""Hold an abstract unix socket name, as another user of the node would to
take it before its owner: squat.py NAME SECONDS. Prints "held PID" once the
name is bound and listening; exits after SECONDS (the tests kill it sooner)."""
import os
import socket
import sys
import time

name, seconds = sys.argv[1], float(sys.argv[2])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind("\0" + name)
sock.listen(16)
print("held", os.getpid(), flush=True)
time.sleep(seconds)
