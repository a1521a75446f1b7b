#!/bin/sh
# flotilla-test app: a stand-in web service for flotilla's test fleet.
# Logs a request line about every 2 s (stdout) and an ERROR line about
# every 20 s (stderr). Creates /tmp/healthy at start for the HEALTHCHECK.
name="${APP_NAME:-web}"
version="${APP_VERSION:-dev}"
trap 'echo "$name $version received SIGTERM, shutting down"; rm -f /tmp/healthy; exit 0' TERM INT
echo "$name $version starting (pid $$, hostname $(hostname))"
: > /tmp/healthy
echo "$name $version ready"
n=0
while :; do
  n=$((n + 1))
  if [ $((n % 10)) -eq 0 ]; then
    echo "ERROR $name $version upstream timeout after 1500ms (request $n)" >&2
  else
    echo "$name $version GET /health 200 ($((n % 7 + 1))ms, request $n)"
  fi
  # sleep in the background so SIGTERM is handled at once
  sleep 2 &
  wait $!
done
