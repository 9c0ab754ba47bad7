#!/bin/sh
# hello-worker: prints a heartbeat until stopped.
set -eu
while true; do
  echo "hello-worker: still working at $(date -u +%H:%M:%S)"
  sleep 60
done
