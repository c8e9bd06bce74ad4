#!/usr/bin/env bash
# Build and test cgru's wheel on every CPython (>= 3.10) this machine has.
#
# For each interpreter (pyenv's versions, or those named in $CGRU_PYTHONS): a
# fresh virtual environment; the wheel built from one sdist of this tree (as
# .ci/run does, with pip's build isolation); the wheel installed with the test
# dependencies that exist for that Python; then the whole suite against the
# installed wheel, CI unset, so a test whose reference package is missing for
# that Python (torch, onnxruntime, keras, ...) skips instead of failing.
#
# torch is installed only from a wheel already on local disk (pip's find-links,
# here torch 2.13.0 CPU for CPython 3.11): PyPI's Linux torch pulls several GB
# of CUDA libraries.  CGRU_TORCH_FROM_INDEX=1 lets pip fetch it from the index.
#
#   scripts/test_pythons.sh                      # every CPython >= 3.10 found
#   CGRU_PYTHONS="python3.12 /usr/bin/python3" scripts/test_pythons.sh
#   CGRU_PYTEST_ARGS="tests/kernels tests/api" scripts/test_pythons.sh
#
# Without $CGRU_PYTHONS, one interpreter per minor version (pyenv's first, then
# the system's; CGRU_PYTHONS_ALL=1: every build found, e.g. Debian's 3.11 too).
#
# Work files (venvs, wheels, logs) go to $CGRU_PYTHONS_WORK (default
# ${TMPDIR:-/tmp}/cgru-pythons), not into the source tree.  Kept between runs,
# so that a rerun is quicker: each interpreter's venv (the test requirements
# stay installed; cgru's wheel is reinstalled; CGRU_PYTHONS_FRESH=1 makes new
# venvs) and the wheels, under a hash of the source files but tests/, docs/ and
# scripts/ (a rerun of the same tree skips the build; a changed file outside
# those builds again).  The last line is the
# total over all interpreters: "pythons: N passed, N failed, N skipped" (a build
# or install failure counts as one failed); exit status 0 only if nothing failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
WORK="${CGRU_PYTHONS_WORK:-${TMPDIR:-/tmp}/cgru-pythons}"
read -r -a PYTEST_ARGS <<< "${CGRU_PYTEST_ARGS:-tests}"
unset CI PYTHONPATH
export PIP_DISABLE_PIP_VERSION_CHECK=1

# ---- the interpreters
pythons=()
if [ -n "${CGRU_PYTHONS:-}" ]; then
    read -r -a pythons <<< "$CGRU_PYTHONS"
else
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python /root/.pyenv/versions/*/bin/python \
             /usr/bin/python3 /usr/local/bin/python3; do
        [ -x "$p" ] && pythons+=("$p")
    done
fi
declare -A seen=()
selected=()
for p in "${pythons[@]}"; do
    v="$("$p" -c 'import sys; print(sys.implementation.name, "%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)" || continue
    case "$v" in cpython\ *) v="${v#cpython }" ;; *) continue ;; esac
    "$p" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || continue   # requires-python
    "$p" -c 'import venv, ensurepip' 2>/dev/null || { echo "skip $p ($v): no venv/ensurepip"; continue; }
    key="$v"
    [ -z "${CGRU_PYTHONS:-}" ] && [ -z "${CGRU_PYTHONS_ALL:-}" ] && key="${v%.*}"   # minor version
    [ -n "${seen[$key]:-}" ] && continue
    seen[$key]=1
    selected+=("$v=$p")
done
[ "${#selected[@]}" -gt 0 ] || { echo "no CPython >= 3.10 found"; echo "pythons: 0 passed, 1 failed"; exit 1; }
mapfile -t selected < <(printf '%s\n' "${selected[@]}" | sort -V)

mkdir -p "$WORK"
# this run's files go; the venvs (venv-py*) and the wheel cache (wheel-cache) stay
find "$WORK" -mindepth 1 -maxdepth 1 ! -name 'venv-py*' ! -name wheel-cache -exec rm -rf {} +
[ -n "${CGRU_PYTHONS_FRESH:-}" ] && rm -rf "$WORK"/venv-py*
echo "== work directory $WORK; interpreters: ${selected[*]%%=*}"

# ---- one sdist of this tree (tracked and untracked-but-not-ignored files, so
#      uncommitted edits are tested too), made by the first interpreter
SRC="$WORK/src"
mkdir -p "$SRC"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z -co --exclude-standard | (cd "$ROOT" && tar --null -T - -cf -) | tar -C "$SRC" -xf -
    echo "== source: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo ' + uncommitted changes')"
else
    tar -C "$ROOT" --exclude=./dist --exclude=./build --exclude='./.venv*' -cf - . | tar -C "$SRC" -xf -
fi
# the wheel cache's key (taken before the sdist adds its egg-info to the snapshot):
# the snapshot's file names and contents, except tests/,
# docs/ and scripts/ (not in the wheel: a change to a test alone reuses the wheel)
srckey="$(cd "$SRC" && find . -path ./tests -prune -o -path ./docs -prune -o -path ./scripts -prune \
          -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
first="${selected[0]#*=}"
"$first" -m venv "$WORK/venv-sdist"
"$WORK/venv-sdist/bin/python" -m pip install -q build > "$WORK/sdist.log" 2>&1 \
    && "$WORK/venv-sdist/bin/python" -m build --sdist --outdir "$WORK/sdist" "$SRC" >> "$WORK/sdist.log" 2>&1 \
    || { tail -30 "$WORK/sdist.log"; echo "pythons: 0 passed, 1 failed"; exit 1; }
SDIST="$(ls "$WORK"/sdist/cgru-*.tar.gz)"
echo "== sdist $(basename "$SDIST")"
find "$WORK/wheel-cache" -mindepth 1 -maxdepth 1 -type d ! -name "$srckey" -mmin +1440 -exec rm -rf {} + 2>/dev/null || true

total_pass=0 total_fail=0 total_skip=0
summary=()
count() {  # count WORD "pytest summary line"
    local n
    n="$(grep -oE "[0-9]+ $1" <<< "$2" | head -1 | cut -d' ' -f1)"
    echo "${n:-0}"
}

for entry in "${selected[@]}"; do
    v="${entry%%=*}" py="${entry#*=}"
    tag="py$v"      # the full version: two builds of one minor version (pyenv's, Debian's) stay apart
    venv="$WORK/venv-$tag" log="$WORK/$tag.log"
    echo
    echo "== CPython $v ($py)"
    t0=$SECONDS
    # the venv of an earlier run, if it is this interpreter's (else a new one)
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.cgru-python" 2>/dev/null)" != "$py" ] \
            || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$venv"
        "$py" -m venv "$venv"
        echo "$py" > "$venv/.cgru-python"
    else
        echo "   venv $venv from an earlier run (CGRU_PYTHONS_FRESH=1 for a new one)"
    fi
    vpy="$venv/bin/python"
    pipq() { "$vpy" -m pip install -q "$@" >> "$log" 2>&1; }
    "$vpy" -m pip uninstall -y -q cgru >> "$log" 2>&1 || true

    # the wheel, from the sdist, with build isolation (its own build requirements),
    # unless the cache has this interpreter's wheel of the same source
    cached="$WORK/wheel-cache/$srckey/$tag"
    if ls "$cached"/cgru-*.whl > /dev/null 2>&1; then
        WHEEL="$(ls "$cached"/cgru-*.whl)"
        tb=0
        echo "   wheel $(basename "$WHEEL") from the cache (built from this same source)"
    else
        if ! "$vpy" -m pip wheel -q --no-deps -w "$WORK/wheels-$tag" "$SDIST" >> "$log" 2>&1; then
            tail -30 "$log"; summary+=("$v: wheel build FAILED"); total_fail=$((total_fail + 1)); continue
        fi
        mkdir -p "$cached" && cp "$WORK/wheels-$tag"/cgru-*.whl "$cached/"
        WHEEL="$(ls "$cached"/cgru-*.whl)"
        tb=$((SECONDS - t0))
        echo "   wheel $(basename "$WHEEL") built in ${tb}s"
    fi
    if ! pipq "$WHEEL"; then
        tail -30 "$log"; summary+=("$v: wheel install FAILED"); total_fail=$((total_fail + 1)); continue
    fi

    # the test extra's requirements, read from the installed wheel's metadata
    mapfile -t reqs < <("$vpy" - <<'EOF'
import importlib.metadata as md
for r in md.requires("cgru") or []:
    req, _, marker = r.partition(";")
    if "extra" in marker and "test" in marker:
        print(req.strip().replace(" ", ""))
EOF
)
    have=() missing=()
    rest=()
    for r in "${reqs[@]}"; do
        name="${r%%[<>=!~[]*}"
        if [ "$name" = torch ] && [ -z "${CGRU_TORCH_FROM_INDEX:-}" ]; then
            if "$vpy" -m pip download -q --no-deps --no-index -d "$WORK/torch-probe-$tag" "$r" >> "$log" 2>&1 \
                    && pipq "$r"; then
                have+=("$r")
            else
                missing+=("$r (no local wheel for CPython $v)")
            fi
        else
            rest+=("$r")
        fi
    done
    if pipq "${rest[@]}"; then
        have+=("${rest[@]}")
    else  # one at a time, to see which are not available for this Python
        for r in "${rest[@]}"; do
            if pipq "$r"; then have+=("$r"); else missing+=("$r (pip: not installable)"); fi
        done
    fi
    "$vpy" -m pip check >> "$log" 2>&1 || { echo "   pip check:"; "$vpy" -m pip check | sed 's/^/     /' || true; }
    echo "   installed: ${have[*]}"
    [ "${#missing[@]}" -eq 0 ] || printf '   missing:   %s\n' "${missing[@]}"
    "$vpy" -c "import numpy, scipy, cgru; print('   cgru', cgru.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__, 'isa', getattr(getattr(cgru, 'kernels', None), 'isa', lambda: '?')())"

    # the suite of the same snapshot, against the installed wheel (no PYTHONPATH; CI unset)
    t1=$SECONDS
    set +e
    cd "$SRC"
    CGRU_WHEEL="$WHEEL" CGRU_SDIST="$SDIST" "$vpy" -m pytest -q -p no:cacheprovider -rfEs "${PYTEST_ARGS[@]}" \
        > "$WORK/$tag.pytest.log" 2>&1
    rc=$?
    cd "$ROOT"
    set -e
    line="$(grep -E '(passed|failed|error|no tests ran)' "$WORK/$tag.pytest.log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')"
    tt=$((SECONDS - t1))
    # why tests skipped, grouped (pytest -rs: "SKIPPED [n] file:line: reason")
    grep -E '^SKIPPED' "$WORK/$tag.pytest.log" | sed -E 's/^SKIPPED \[([0-9]+)\] [^ ]+: /\1 /' \
        | awk '{n=$1; $1=""; s[$0]+=n} END {for (r in s) printf "   skipped %4d:%s\n", s[r], r}' | sort -k2 -nr || true
    if [ "$rc" -ne 0 ]; then
        grep -E '^(FAILED|ERROR)' "$WORK/$tag.pytest.log" | head -30 || true
    fi
    p="$(count passed "$line")" f="$(count failed "$line")" e="$(count error "$line")" s="$(count skipped "$line")"
    f=$((f + e))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1   # pytest failed without a failure count (e.g. crashed)
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
    echo "   tests: $line (exit $rc; build ${tb}s, tests ${tt}s, total $((SECONDS - t0))s)"
    summary+=("$v: $line (build ${tb}s, tests ${tt}s)")
done

echo
echo "== summary (logs in $WORK)"
printf '%s\n' "${summary[@]}"
echo "pythons: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
