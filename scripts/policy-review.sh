#!/bin/sh
# Fails a change that widens policy.toml unless it is approved.
#
#   scripts/policy-review.sh BASE [POLICY]   compare POLICY (default policy.toml) in the
#                                            work tree with its version at git rev BASE
#   scripts/policy-review.sh --staged        compare the staged POLICY with HEAD (pre-commit)
#
# Exit 0: the policy loads and nothing widened (unchanged or only narrowed), or a
# widening is approved with CLAMBOT_POLICY_APPROVED=1. Exit 3: it widens and is not
# approved. Exit 7: a policy cannot be read. Exit 1: `policy check` found errors.
# CLAMBOT (default: clambot on PATH) is the binary; FORMAT (text, json, github) the
# diff output, e.g. FORMAT=github in GitHub Actions for annotations on the lines.
set -eu
clambot=${CLAMBOT:-clambot}
format=${FORMAT:-text}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "${1:-}" = "--staged" ]; then
    policy=${2:-policy.toml}
    base=HEAD
    git show ":$policy" > "$tmp/new.toml" 2>/dev/null || exit 0   # not staged: nothing to review
    new="$tmp/new.toml"
else
    base=${1:?usage: policy-review.sh BASE [POLICY] | --staged [POLICY]}
    policy=${2:-policy.toml}
    new=$policy
fi
# A policy that did not exist before is compared with the empty one (deny everything).
git show "$base:$policy" > "$tmp/old.toml" 2>/dev/null || printf 'version = 1\n' > "$tmp/old.toml"

"$clambot" policy check "$new"
status=0
"$clambot" policy diff --format "$format" "$tmp/old.toml" "$new" || status=$?
case $status in
    0) exit 0 ;;
    3)
        if [ "${CLAMBOT_POLICY_APPROVED:-}" = 1 ]; then
            echo "policy-review: the widening of $policy is approved (CLAMBOT_POLICY_APPROVED=1)" >&2
            exit 0
        fi
        echo "policy-review: $policy widens what scripts may do; get it reviewed, then set CLAMBOT_POLICY_APPROVED=1" >&2
        exit 3 ;;
    *) exit "$status" ;;
esac
