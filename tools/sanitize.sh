#!/usr/bin/env bash
# The test suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of cyconv.
#
#   bash tools/sanitize.sh [pytest arguments]      (default: the whole suite, -x -q)
#
# Builds every compiled module of the package (whatever C/Cython sources CMakeLists.txt
# lists: nothing here names a module) with gcc or clang's -fsanitize=address,undefined in
# its own venv and build directory under $CYCONV_SANITIZE_DIR (default /tmp/cyconv-sanitize),
# then runs pytest with the ASan runtime preloaded into the (uninstrumented) CPython.
# It fails on the first finding: ASan halts on every error and UBSan is told to as well
# (halt_on_error=1), so a report ends the run
# with a non-zero status (tools/ubsan.supp lists the known findings that do not, each with
# its issue); the log is also scanned for "runtime error:" and "ERROR:
# AddressSanitizer", in case a report did not stop it. Before the suite, a deliberate heap
# overflow is checked to be caught, so a run with the sanitizer silently off cannot pass.
#
# Environment:
#   PYTHON               interpreter for the venv (default python3; the venv sees its
#                        site-packages: numpy, pytest, torch, ... must be installed there)
#   CC                   compiler (default gcc); must support -fsanitize=address,undefined
#   CYCONV_SANITIZE_DIR  work directory (default ${TMPDIR:-/tmp}/cyconv-sanitize)
#
# Leak detection is off (CPython keeps interned objects alive at exit, which LeakSanitizer
# would report); allocator_may_return_null=1 makes an impossible allocation a MemoryError,
# as without ASan. Tests that cap the address space with RLIMIT_AS (ASan reserves terabytes
# of virtual shadow memory) use ASan's own max_allocation_size_mb instead when they see
# libasan in LD_PRELOAD (tests/test_hostile.py).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${CYCONV_SANITIZE_DIR:-${TMPDIR:-/tmp}/cyconv-sanitize}"
PYTHON="${PYTHON:-python3}"
CC="${CC:-gcc}"
T0=$SECONDS
say() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '\nsanitize: FAILED: %s\n' "$*" >&2; exit 1; }

LIBASAN="$("$CC" -print-file-name=libasan.so)"
[ -f "$LIBASAN" ] || die "$CC has no libasan.so (install the compiler's sanitizer runtime, e.g. libasan8)"

mkdir -p "$WORK"
VENV="$WORK/venv"
say "venv $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
PY="$VENV/bin/python"
# When $PYTHON is itself a venv's (.ci/run's, with torch and the test extras), its packages
# are visible too, after the venv's own (where the sanitized cyconv goes).
"$PYTHON" -c 'import sys, sysconfig; sys.prefix != sys.base_prefix and print(sysconfig.get_paths()["purelib"])' \
  > "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_cyconv_parent_venv.pth"
# Build without isolation when the build requirements are at hand (incremental rebuilds in
# the kept build directory), else let pip fetch them.
ISOLATION=--no-build-isolation
"$PY" -c 'import scikit_build_core, Cython, cython_cmake, numpy' 2>/dev/null || ISOLATION=
# (an isolated build's requirements live in a fresh temporary env each time: start clean)
[ -n "$ISOLATION" ] || rm -rf "$WORK/build"

say "build with -fsanitize=address,undefined ($CC), build dir $WORK/build"
# Only the sanitizer flags, on top of the normal Release build, as CMake cache entries (so a
# change of flags reconfigures the kept build directory). UBSan's checks stay recoverable so
# that tools/ubsan.supp can name known findings; halt_on_error=1 stops at any other.
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -g"
LINK="-fsanitize=address,undefined"
unset CYCONV_BOUNDSCHECK CFLAGS LDFLAGS
CC="$CC" SKBUILD_BUILD_DIR="$WORK/build" \
  SKBUILD_CMAKE_ARGS="-DCMAKE_C_FLAGS=$SAN;-DCMAKE_MODULE_LINKER_FLAGS=$LINK;-DCMAKE_SHARED_LINKER_FLAGS=$LINK" \
  "$PY" -m pip install $ISOLATION --no-deps --force-reinstall -q "$ROOT" \
  > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; die "the sanitizer build failed"; }

# Every compiled module must carry the runtimes.
PKG="$("$PY" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("cyconv").origin))')"
n=0
for so in "$PKG"/*.so; do
  needed="$(readelf -d "$so" | grep NEEDED || true)"
  case "$needed" in *libasan*) ;; *) die "$(basename "$so") is not linked with libasan" ;; esac
  case "$needed" in *libubsan*) ;; *) die "$(basename "$so") is not linked with libubsan" ;; esac
  n=$((n + 1))
done
[ "$n" -gt 0 ] || die "no compiled modules in $PKG"
say "$n modules built with ASan + UBSan"

# libstdc++ is preloaded too: ASan's __cxa_throw interceptor must find it at start-up, or the
# first C++ exception (matplotlib's ft2font, torch) aborts with "CHECK failed ... __cxa_throw".
LIBSTDCXX="$("$CC" -print-file-name=libstdc++.so.6)"
export LD_PRELOAD="$LIBASAN${LIBSTDCXX:+ $LIBSTDCXX}"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1:detect_stack_use_after_return=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/tools/ubsan.supp:${UBSAN_OPTIONS:-}"
export PYTHONMALLOC=malloc   # every Python allocation through ASan's allocator
export PYTHONFAULTHANDLER=1

say "self-check: a deliberate heap overflow must be caught"
if "$PY" -c '
import ctypes, numpy as np, cyconv
a = np.zeros(2)
ctypes.memset(a.ctypes.data, 0, 64)   # 64 bytes into a 16-byte buffer
' > "$WORK/selfcheck.log" 2>&1; then
  die "ASan did not catch a heap overflow: is the runtime really loaded?"
fi
grep -q "heap-buffer-overflow" "$WORK/selfcheck.log" || { cat "$WORK/selfcheck.log"; die "no ASan report"; }

say "pytest ${*:--x} (log: $WORK/pytest.log)"
# From a copy of tests/ outside the source tree, so that the installed (sanitized) package
# is the one imported (pyproject.toml carries the pytest settings; README.md, docs/ and
# benchmarks/ are read by their tests), never python/cyconv.
rm -rf "$WORK/run" && mkdir "$WORK/run"
for item in tests pyproject.toml README.md docs benchmarks; do   # what tests read beside them
  [ -e "$ROOT/$item" ] && cp -r "$ROOT/$item" "$WORK/run/"
done
rm -rf "$WORK/run/docs/_build"
cd "$WORK/run"
set +e
# --capture=sys: pytest captures Python's sys.stdout/stderr only, so a sanitizer report (C
# writes to file descriptor 2) reaches the log even when it ends the process.
"$PY" -m pytest -p no:cacheprovider -q --capture=sys "${@:--x}" 2>&1 | tee "$WORK/pytest.log"
status=${PIPESTATUS[0]}
set -e
if grep -qE "runtime error:|ERROR: AddressSanitizer|AddressSanitizer: CHECK failed" "$WORK/pytest.log"; then
  grep -nE -A40 "runtime error:|ERROR: AddressSanitizer|AddressSanitizer: CHECK failed" "$WORK/pytest.log" | head -80
  die "sanitizer finding (see $WORK/pytest.log)"
fi
[ "$status" -eq 0 ] || die "pytest exited with status $status under the sanitizers"
say "sanitize: OK, no finding ($(( (SECONDS - T0) / 60 )) min $(( (SECONDS - T0) % 60 )) s)"
