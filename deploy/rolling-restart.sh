#!/usr/bin/env bash
# Restart the phone line's workers one at a time, without dropping a call (docs/operations.md).
#   sudo deploy/rolling-restart.sh              every phone-booking-bot@PORT that is running
#   sudo deploy/rolling-restart.sh 8765 8766    these, in this order
# Each worker drains when stopped (new calls go to the others, its calls finish or are handed over to
# resume there), starts again (the release "current" points at now), and must answer /readyz before the
# next one is touched. A worker that does not come back stops the script: the others keep the line up.
set -euo pipefail
READY_SECS=${READY_SECS:-180}

ports=("$@")
if ((${#ports[@]} == 0)); then
    mapfile -t ports < <(systemctl list-units --type=service --state=running --no-legend --plain \
        'phone-booking-bot@*.service' | sed -nE 's/^phone-booking-bot@([0-9]+)\.service.*/\1/p')
fi
if ((${#ports[@]} == 0)); then
    echo "No phone-booking-bot@PORT worker is running: start them with systemctl start phone-booking-bot@8765 ..." >&2
    exit 1
fi
if ((${#ports[@]} == 1)); then
    echo "Warning: one worker only. Its calls in progress finish (up to BOT_DRAIN_SECS), but a call still going" >&2
    echo "after that has no other worker to resume on, and new calls hear the busy words until it is back." >&2
fi

for port in "${ports[@]}"; do
    echo "phone-booking-bot@$port: restarting (it drains first: up to BOT_DRAIN_SECS, then hands calls over)"
    systemctl restart "phone-booking-bot@$port"
    printf 'phone-booking-bot@%s: waiting for /readyz' "$port"
    ready=""
    for ((i = 0; i < READY_SECS; i++)); do
        if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz"; then
            ready=yes
            break
        fi
        printf .
        sleep 1
    done
    if [ -z "$ready" ]; then
        echo
        echo "phone-booking-bot@$port is not ready after ${READY_SECS} s: stopping here, the other workers are untouched." >&2
        echo "Why: curl -s http://127.0.0.1:$port/readyz; journalctl -u phone-booking-bot@$port -n 50" >&2
        exit 1
    fi
    echo " ready"
done
echo "All ${#ports[@]} workers restarted."
