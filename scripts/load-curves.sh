#!/usr/bin/env bash
# The load curves for 1, 2 and N worker processes (docs/load.md, "The curves for 1, 2 and N workers"):
#   bash scripts/load-curves.sh                         cloud-sim, 50 calls over 60 s, for 1, 2 and nproc workers
#   LOAD_PROFILE=local LOAD_CALLS=16 bash scripts/load-curves.sh
#   LOAD_WORKERS="1 2 4" LOAD_RAMP=90 bash scripts/load-curves.sh
# Each run: out/load-PROFILE-wN.json (the figures, each worker's CPU and the machine's) and its plot,
# out/load-PROFILE-wN.png. Run it on a machine doing nothing else: the load generator shares its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
profile=${LOAD_PROFILE:-cloud-sim}
calls=${LOAD_CALLS:-50}
ramp=${LOAD_RAMP:-60}
read -r -a workers <<< "${LOAD_WORKERS:-$(printf '%s\n' 1 2 "$(nproc)" | sort -nu | tr '\n' ' ')}"
mkdir -p out
for n in "${workers[@]}"; do
    report="out/load-$profile-w$n.json"
    echo "$profile, $calls calls over $ramp s, $n workers -> $report"
    # load exits 1 when a call did not end as expected: the figures are still written, and the next N runs.
    "$PYTHON" -m bot load --calls "$calls" --ramp "$ramp" --profile "$profile" --workers "$n" --json \
        --plot "out/load-$profile-w$n.png" > "$report" || true
    "$PYTHON" - "$report" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
v = r["voice_to_voice_ms"]
print(f"  {r['ok']}/{r['calls_made']} as expected, voice to voice p50/p95/max {v['p50']}/{v['p95']}/{v['max']} ms, "
      f"{r['gaps_over_60ms']} gaps > 60 ms; server CPU {r['cpu_percent_at_peak']}% at peak, workers "
      f"{r['worker_cpu_percent_at_peak']}%, {r['cpu_percent_per_call']}% per call; machine {r['host_cpu_percent_at_peak']}%")
PY
done
