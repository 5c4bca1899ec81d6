#!/usr/bin/env bash
# Install, switch and roll back releases of the phone line (docs/deployment.md).
#   sudo deploy/release.sh install REF   check REF (tag, branch, commit) out of the clone into its own release
#                                        folder, set it up (bash scripts/run.sh flows check), switch to it,
#                                        restart the workers one at a time
#   sudo deploy/release.sh rollback      switch back to the release before, restart the workers one at a time
#   deploy/release.sh list               the releases, and which is current
# Layout (ROOT=/opt/phone-booking-bot): ROOT/repo the git clone, ROOT/releases/<name> one folder and .venv
# per release, ROOT/current and ROOT/previous symlinks. A worker runs the release that was current when it
# started, so switching never mixes two releases' code in one process. The database is upgraded by the
# first worker of a new release to start (a copy of it is kept first); migrations only add, so the
# previous release runs on it too after a rollback.
set -euo pipefail
ROOT=${ROOT:-/opt/phone-booking-bot}
HERE="$(cd "$(dirname "$0")" && pwd)"

restart() {
    if [ "${NO_RESTART:-}" ]; then
        echo "NO_RESTART is set: restart the workers yourself (deploy/rolling-restart.sh)"
    else
        "$HERE/rolling-restart.sh"
    fi
}

switch_to() {  # make $1 current, the current one previous
    local target=$1 old
    old=""
    [ -L "$ROOT/current" ] && old=$(readlink -f "$ROOT/current")
    if [ -n "$old" ] && [ "$old" != "$target" ]; then
        ln -sfn "$old" "$ROOT/previous.new" && mv -Tf "$ROOT/previous.new" "$ROOT/previous"
    fi
    ln -sfn "$target" "$ROOT/current.new" && mv -Tf "$ROOT/current.new" "$ROOT/current"
    echo "current -> $target"
}

case "${1:-}" in
    install)
        ref=${2:?usage: release.sh install REF}
        git -C "$ROOT/repo" fetch --tags --quiet origin || echo "warning: could not fetch; using the clone as it is" >&2
        # A branch as the remote has it now (the clone's own may be behind), else a tag or a commit.
        commit=$(git -C "$ROOT/repo" rev-parse --verify --quiet "origin/$ref^{commit}" \
            || git -C "$ROOT/repo" rev-parse --verify "$ref^{commit}")
        name="$(date -u +%Y%m%d-%H%M%S)-$(git -C "$ROOT/repo" rev-parse --short "$commit")"
        target="$ROOT/releases/$name"
        mkdir -p "$ROOT/releases"
        git -C "$ROOT/repo" worktree add --detach --quiet "$target" "$commit"
        echo "Setting up $target"
        if ! (cd "$target" && bash scripts/run.sh flows check); then
            echo "The release did not set up (or its flow has errors): still on $(readlink -f "$ROOT/current" || echo nothing)" >&2
            exit 1
        fi
        switch_to "$target"
        restart
        ;;
    rollback)
        target=""
        [ -L "$ROOT/previous" ] && target=$(readlink -f "$ROOT/previous")
        if [ -z "$target" ] || [ ! -d "$target" ]; then
            echo "No previous release to go back to (ls $ROOT/releases)" >&2
            exit 1
        fi
        switch_to "$target"
        restart
        ;;
    list)
        current=""
        [ -L "$ROOT/current" ] && current=$(readlink -f "$ROOT/current")
        for release in "$ROOT"/releases/*/; do
            release=${release%/}
            mark=" "; [ "$release" = "$current" ] && mark="*"
            echo "$mark $(basename "$release")  $(git -C "$release" log -1 --format='%h %cs %s' 2>/dev/null | cut -c1-80)"
        done
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
