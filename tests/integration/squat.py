#!/usr/bin/env python3
"""Hold an abstract unix socket name, as another user of the node would to
take it before its owner: squat.py NAME SECONDS [full]. Prints "held PID" once
the name is bound and listening; exits after SECONDS (the tests kill it
sooner). With "full", its queue is kept full (a backlog of 0 and one
connection of its own, never accepted): a blocking connect(2) would wait."""
import os
import socket
import sys
import time

name, seconds = sys.argv[1], float(sys.argv[2])
is_full = sys.argv[3:] == ["full"]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind("\0" + name)
sock.listen(0 if is_full else 16)
if is_full:
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    filler.connect("\0" + name)
print("held", os.getpid(), flush=True)
time.sleep(seconds)
