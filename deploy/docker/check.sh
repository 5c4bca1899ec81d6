#!/usr/bin/env bash
# Build the image and run it for real: it must answer /healthz and /readyz, and drain and exit 0 on stop.
#   bash deploy/docker/check.sh                      with docker (or podman, if docker is missing)
#   RUNTIME=podman BUILD_OPTS="--format docker" BASE=localhost/debian:bookworm bash deploy/docker/check.sh
# (Podman keeps the HEALTHCHECK only in Docker's image format.)
# BUILD_OPTS and RUN_OPTS pass extra options (build args, mounts, ulimits) to the build and to the run.
# Not part of the CI suite: it needs a container runtime and downloads every dependency (minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNTIME=${RUNTIME:-$(command -v docker >/dev/null && docker info >/dev/null 2>&1 && echo docker || echo podman)}
IMAGE=${IMAGE:-phone-booking-bot:check}
PORT=${PORT:-18765}
read -r -a runtime <<< "$RUNTIME"
read -r -a build_opts <<< "${BUILD_OPTS:-}"
read -r -a run_opts <<< "${RUN_OPTS:-}"

"${runtime[@]}" build ${BASE:+--build-arg "BASE=$BASE"} "${build_opts[@]}" -f deploy/docker/Dockerfile -t "$IMAGE" .
name="phone-line-check-$$"
"${runtime[@]}" run -d --name "$name" "${run_opts[@]}" -p "127.0.0.1:$PORT:8765" -e BOT_DRAIN_NOTICE_SECS=1 "$IMAGE" >/dev/null
trap '"${runtime[@]}" rm -f "$name" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 180); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
    if [ "$("${runtime[@]}" inspect -f '{{.State.Running}}' "$name")" != true ]; then
        "${runtime[@]}" logs "$name" 2>&1 | tail -20 >&2
        echo "the container exited before it was ready" >&2
        exit 1
    fi
    sleep 1
done
echo "healthz: $(curl -fsS "http://127.0.0.1:$PORT/healthz")"
echo "readyz:  $(curl -fsS "http://127.0.0.1:$PORT/readyz")"
curl -fsS -X POST -d CallSid=CAcheck -d From=+15550001 "http://127.0.0.1:$PORT/twilio/voice" | grep -q "<Stream"
echo "voice webhook: TwiML with a stream"
"${runtime[@]}" stop -t 150 "$name" >/dev/null
code=$("${runtime[@]}" inspect -f '{{.State.ExitCode}}' "$name")
"${runtime[@]}" logs "$name" 2>&1 | grep -E "Drained|ready for calls" || true
[ "$code" = 0 ] || { echo "the container exited $code after stop" >&2; exit 1; }
echo "OK: built, served, drained and exited 0"
