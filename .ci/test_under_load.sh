#!/usr/bin/env bash
# `make test` RUNS times in a row (default 3) while BURNERS CPU-burning processes (default 2) run beside
# it: the suite must pass on a busy machine, not only on an idle one. Prints each run's wall time and
# result, keeps each run's output, and exits non-zero if any run failed. The burners are started here
# and killed here, by their process ids, however the script ends.
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BURNERS=${BURNERS:-2}
TEST_COMMAND=${TEST_COMMAND:-make test}  # e.g. TEST_COMMAND=true to try the script itself
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lockit-test-under-load.XXXXXX")
burner_pids=()
test_pid=

stop_all() {
    # The run in progress (its own process group: make, pytest and what they started), then the burners.
    if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
        kill -TERM -- "-$test_pid" 2>/dev/null
        wait "$test_pid" 2>/dev/null
    fi
    for pid in "${burner_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${burner_pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    burner_pids=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for _ in $(seq "$BURNERS"); do
    python3 -c 'while True: pass' &
    burner_pids+=("$!")
done
echo "test-under-load: $RUNS runs of '$TEST_COMMAND' beside $BURNERS CPU burners (pids ${burner_pids[*]}); logs in $LOG_DIR"

failed=0
results=()
for run in $(seq "$RUNS"); do
    log="$LOG_DIR/run-$run.log"
    started=$(date +%s)
    # In the background and in a session of its own, so that a signal to this script is handled at
    # once and can end the whole run.
    setsid $TEST_COMMAND >"$log" 2>&1 &
    test_pid=$!
    wait "$test_pid"
    code=$?
    test_pid=
    seconds=$(( $(date +%s) - started ))
    summary=$(grep -E '^=+ .*(passed|failed|error).* =+$' "$log" | tail -n 1)
    if [ "$code" -eq 0 ]; then result=PASS; else result="FAIL (exit $code)"; failed=1; fi
    line=$(printf 'run %d: %s in %dm%02ds  %s' "$run" "$result" $((seconds / 60)) $((seconds % 60)) "$summary")
    results+=("$line")
    echo "$line"
done

echo "---"
printf '%s\n' "${results[@]}"
[ "$failed" -eq 0 ] && echo "test-under-load: all $RUNS runs passed" || echo "test-under-load: a run failed; see $LOG_DIR"
exit "$failed"
