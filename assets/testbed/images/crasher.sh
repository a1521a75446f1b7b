#!/bin/sh
# flotilla-test crasher: starts, runs ~2 s, then exits 1 (for crash-loop tests).
trap 'echo "crasher received SIGTERM"; exit 0' TERM INT
echo "crasher starting (pid $$)"
sleep 2 &
wait $!
echo "FATAL crasher: cannot open /etc/crasher.conf: no such file or directory" >&2
exit 1
