#!/usr/bin/env bash
# Build cgru's wheel on 64-bit ARM (aarch64) and run its tests there, under
# emulation, on an x86-64 Debian machine (run as root).
#
#   sudo scripts/test_aarch64.sh
#
# What it does:
#   1. host tools: qemu-user-static (the aarch64 emulator), debootstrap and
#      binfmt-support from Debian's packages (apt-get, if missing); binfmt_misc
#      is mounted and qemu-aarch64 registered, so aarch64 programs run;
#   2. an arm64 Debian root file system with Debian's python3, NumPy, SciPy,
#      Cython, setuptools, gcc, pytest and hypothesis (debootstrap; ~10 min the
#      first time), kept as a tarball in the cache: later runs unpack a fresh
#      copy of it (seconds) instead;
#   3. in that fresh copy (chroot): the wheel built from this tree (tracked and
#      untracked-but-not-ignored files) with `pip wheel --no-build-isolation`
#      against Debian's NumPy / SciPy / Cython, installed, and the kernel,
#      NumPy-reference parity, stream and C-API tests run against the installed
#      wheel (the default selection below, or $CGRU_AARCH64_TESTS), CI
#      unset, so the torch / onnxruntime / keras comparisons (not installed
#      there) skip.  The last line printed is pytest's summary line; the exit
#      status is pytest's.
#
# Settings (environment):
#   CGRU_AARCH64_CACHE   cache directory (default /var/cache/cgru-aarch64)
#   CGRU_AARCH64_SUITE   Debian release (default trixie: its NumPy 2.2, SciPy
#                        1.15, Cython 3.0 and setuptools 78 meet cgru's build
#                        requirements; bookworm's SciPy 1.10, Cython 0.29 and
#                        setuptools 66 do not)
#   CGRU_AARCH64_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   CGRU_AARCH64_TESTS   pytest arguments (default: tests/kernels tests/capi
#                        tests/api/test_stream.py tests/api/test_gates_api.py, without
#                        the AddressSanitizer build of the lowp C test, which qemu-user
#                        cannot run, and the 4 GIL-gap timings of 13 G multiply-adds each,
#                        ~2 min apiece emulated; "tests/kernels tests/api tests/capi" for all)
#   CGRU_AARCH64_KEEP=1  keep the unpacked root file system after the run
#   CGRU_AARCH64_REBUILD=1  build the wheel even if the cache has one of this source
# The build and pytest logs of the last run are copied to $CGRU_AARCH64_CACHE/last-run/.
# The wheel is cached too, under a hash of the source files (all but tests/,
# docs/ and scripts/, which the wheel does not hold) and the root file system:
# a rerun of the same tree skips the ~10 min emulated build (any changed, added
# or removed file outside those three, e.g. a kernel change, builds it again).
# Everything heavy runs under `nice -n 19` (emulation is CPU hungry).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SUITE="${CGRU_AARCH64_SUITE:-trixie}"
MIRROR="${CGRU_AARCH64_MIRROR:-http://deb.debian.org/debian}"
CACHE="${CGRU_AARCH64_CACHE:-/var/cache/cgru-aarch64}"
# the default: the kernel tests (NumPy-reference parity included), the C-API tests and
# the stream tests; see docs/robustness.md for what is left out and why (emulation
# makes them take hours, or measures timing the emulator cannot give)
DEFAULT_TESTS="tests/kernels tests/capi tests/api/test_stream.py tests/api/test_gates_api.py \
--deselect tests/kernels/test_lowp_c.py::test_lowp_c_unit[flags1] \
--deselect tests/capi/test_downstream.py::test_consumer_releases_gil"
TESTS="${CGRU_AARCH64_TESTS:-$DEFAULT_TESTS}"
NICE=(nice -n 19)
PKGS="python3,python3-dev,python3-venv,python3-pip,python3-numpy,python3-scipy,cython3,\
python3-setuptools,python3-packaging,python3-wheel,python3-pytest,python3-hypothesis,\
python3-mpmath,python3-threadpoolctl,gcc,libc6-dev"
T_START=$SECONDS
step() { echo "== [$((SECONDS - T_START))s] $*"; }

[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap, chroot and binfmt_misc need it)"; exit 2; }

# ---- 1. host tools and binfmt_misc
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v zstd >/dev/null || need+=(zstd)
if [ "${#need[@]}" -gt 0 ]; then
    step "apt-get install ${need[*]}"
    apt-get update -q > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null
fi
BINFMT=/proc/sys/fs/binfmt_misc
[ -e "$BINFMT/status" ] || mount binfmt_misc -t binfmt_misc "$BINFMT"
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
fi
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    # the same entry as Debian's: ELF64 little-endian, e_machine 183 (AArch64);
    # F: the emulator is opened now, so it also serves programs inside a chroot
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$(command -v qemu-aarch64-static)"':F' \
        > "$BINFMT/register"
fi
grep -q '^enabled' "$BINFMT/qemu-aarch64" || echo 1 > "$BINFMT/qemu-aarch64"
grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" \
    || echo "warning: qemu-aarch64 is registered without the F flag; the chroot may not find its emulator"

# ---- 2. the arm64 root file system (cached as a tarball)
mkdir -p "$CACHE"
key="$(printf '%s %s %s' "$SUITE" "$MIRROR" "$PKGS" | sha256sum | cut -c1-10)"
TARBALL="$CACHE/rootfs-$SUITE-arm64-$key.tar.zst"
if [ ! -s "$TARBALL" ]; then
    step "debootstrap arm64 Debian $SUITE into the cache (first run only; emulated second stage takes minutes)"
    BUILD="$CACHE/bootstrap-$SUITE"
    rm -rf "$BUILD"
    "${NICE[@]}" debootstrap --arch=arm64 --variant=minbase --foreign --include="$PKGS" \
        "$SUITE" "$BUILD" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
    # The second stage looks packages up in the suite's whole Packages index
    # (~55 MB) with perl, under emulation, once per group of packages: 1-2 min
    # each on a loaded machine.  It only asks for the packages the first stage
    # chose (debootstrap/required and base), so keep just their entries.
    for idx in "$BUILD"/var/lib/apt/lists/*_Packages; do
        cat "$BUILD"/debootstrap/required "$BUILD"/debootstrap/base | tr ' ' '\n' | grep -v '^$' \
            | awk 'NR == FNR {keep[$1] = 1; next} /^Package: / {k = ($2 in keep)} k {print} /^$/ {k = 0}' \
                - "$idx" > "$idx.needed"
        mv "$idx.needed" "$idx"
    done
    "${NICE[@]}" chroot "$BUILD" /debootstrap/debootstrap --second-stage >> "$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log" "$BUILD/debootstrap/debootstrap.log" 2>/dev/null; exit 1; }
    rm -rf "$BUILD"/var/cache/apt/archives/*.deb "$BUILD"/var/lib/apt/lists/* || true
    step "pack $(du -sh "$BUILD" | cut -f1) into $TARBALL"
    "${NICE[@]}" tar -C "$BUILD" --numeric-owner -cf - . | "${NICE[@]}" zstd -q -T0 -3 -o "$TARBALL.tmp"
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$BUILD"
else
    step "cached root file system $TARBALL"
fi

# ---- a fresh copy of it for this run
RUN="$CACHE/run-$SUITE"
cleanup() {
    for m in "$RUN/dev/shm" "$RUN/proc"; do
        mountpoint -q "$m" 2>/dev/null && umount -l "$m"
    done
    if [ -z "${CGRU_AARCH64_KEEP:-}" ] && [ -d "$RUN" ] && ! mount | grep -q " $RUN/"; then
        rm -rf "$RUN"
    fi
    return 0
}
trap cleanup EXIT
cleanup
rm -rf "$RUN"
mkdir -p "$RUN"
step "unpack a fresh root file system into $RUN"
zstd -q -dc "$TARBALL" | tar -C "$RUN" --numeric-owner -xf -
mount -t proc proc "$RUN/proc"
mkdir -p "$RUN/dev/shm" && mount -t tmpfs -o size=512m tmpfs "$RUN/dev/shm"
chroot "$RUN" /bin/true || { echo "cannot run aarch64 programs (binfmt_misc / qemu-aarch64)"; exit 1; }

mkdir -p "$RUN/src"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z -co --exclude-standard | (cd "$ROOT" && tar --null -T - -cf -) | tar -C "$RUN/src" -xf -
    rev="$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo '+changes')"
else
    tar -C "$ROOT" --exclude=./dist --exclude=./build --exclude='./.venv*' -cf - . | tar -C "$RUN/src" -xf -
    rev="(not a git checkout)"
fi
# the wheel of this exact source on this root file system: every file's name and
# contents except tests/, docs/ and scripts/, which the wheel does not hold
srckey="$(cd "$RUN/src" && find . -path ./tests -prune -o -path ./docs -prune -o -path ./scripts -prune \
          -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum \
          | { cat; echo "$TARBALL"; } | sha256sum | cut -c1-16)"
WHEELS="$CACHE/wheels/$srckey"
mkdir -p "$RUN/dist"
if [ -z "${CGRU_AARCH64_REBUILD:-}" ] && ls "$WHEELS"/cgru-*.whl >/dev/null 2>&1; then
    step "cached wheel of this source: $(basename "$WHEELS"/cgru-*.whl) ($WHEELS)"
    cp "$WHEELS"/cgru-*.whl "$RUN/dist/"
    cp -f "$WHEELS/build.log" "$RUN/build.log" 2>/dev/null || true
fi

# ---- 3. build, install, test inside the arm64 system
cat > "$RUN/cgru-test.sh" <<'EOF'
set -eu
cd /src
echo "   $(uname -m), $(python3 -c 'import sys, numpy, scipy, Cython, setuptools; print("Python", sys.version.split()[0], "NumPy", numpy.__version__, "SciPy", scipy.__version__, "Cython", Cython.__version__, "setuptools", setuptools.__version__)'), $(gcc --version | head -1)"
if ls /dist/cgru-*.whl >/dev/null 2>&1; then
    echo "   wheel $(basename /dist/cgru-*.whl) from the cache (built from this same source)"
else
    t0=$(date +%s)
    python3 -m pip wheel -v --no-build-isolation --no-deps -w /dist . > /build.log 2>&1 \
        || { grep -E "error|Error" /build.log | head -40; tail -20 /build.log; exit 1; }
    t1=$(date +%s)
    echo "   wheel $(basename /dist/cgru-*.whl) built in $((t1 - t0))s"
    grep -iE "warning:" /build.log | sort | uniq -c | sort -nr | head -20 | sed 's/^/   compiler /' || true
fi
python3 -m pip install -q --no-index --no-deps --break-system-packages /dist/cgru-*.whl > /install.log 2>&1 \
    || { cat /install.log; exit 1; }
cd /
python3 - <<'PY'
import platform, cgru, cgru.kernels as k
isa = k.isa() if hasattr(k, "isa") else "?"
print(f"   installed cgru {cgru.__version__} from {cgru.__file__}; machine {platform.machine()}, kernels isa: {isa}")
PY
cd /src
echo "   pytest $*"
set +e
{ python3 -m pytest -q -p no:cacheprovider -rs --durations=25 "$@"; echo $? > /pytest.rc; } 2>&1 | tee /pytest.log
exit "$(cat /pytest.rc)"
EOF

step "build, install and test in arm64 Debian $SUITE (source $rev)"
t_test=$SECONDS
set +e
# shellcheck disable=SC2086
"${NICE[@]}" chroot "$RUN" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    TMPDIR=/tmp PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INDEX=1 PYTHONDONTWRITEBYTECODE=1 \
    /bin/sh /cgru-test.sh $TESTS
rc=$?
set -e
mkdir -p "$CACHE/last-run"
if ls "$RUN"/dist/cgru-*.whl >/dev/null 2>&1 && ! ls "$WHEELS"/cgru-*.whl >/dev/null 2>&1; then
    mkdir -p "$WHEELS"
    cp "$RUN"/dist/cgru-*.whl "$WHEELS/" && cp -f "$RUN/build.log" "$WHEELS/" 2>/dev/null || true
    # keep the 4 newest source hashes' wheels
    ls -1dt "$CACHE"/wheels/*/ 2>/dev/null | tail -n +5 | xargs -r rm -rf
fi
cp -f "$RUN"/build.log "$RUN"/pytest.log "$CACHE/last-run/" 2>/dev/null || true
line="$(grep -E '(passed|failed|error|no tests ran)' "$RUN/pytest.log" 2>/dev/null | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')"
step "done: build + tests $((SECONDS - t_test))s, total $((SECONDS - T_START))s (exit $rc)"
echo "${line:-no pytest summary (see the output above)}"
exit "$rc"
