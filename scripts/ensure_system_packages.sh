#!/usr/bin/env bash
# Make sure the system packages the SPoCA programs build with are installed: a C++17 compiler,
# pkg-config and the FITS library cfitsio. With `--venv PYTHON`, also Python's venv module, which
# Debian ships apart (python3.X-venv): the Makefile asks for it when creating the venv failed.
# With `--headers PYTHON`, also that Python's C headers (python3.X-dev), which `pip install -e .` needs to build
# the image statistics' Rice decoder (spoca4staff/_kernels.cpp).
# With `--browser`, also a headless web browser (Debian's chromium), which `make test` needs to check that
# the interactive plot pages render.
# Installs what is missing with apt-get when we are root or have sudo; otherwise stops with one
# sentence saying what to install.
set -euo pipefail

missing=()
browser=no
if [ "${1:-}" = --browser ]; then
    browser=yes
    shift
fi
if [ "${1:-}" = --headers ]; then
    python=${2:-python3}
    include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    if [ ! -f "$include/Python.h" ]; then
        version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        missing+=("python${version}-dev")
    fi
fi
if [ "${1:-}" = --venv ]; then
    python=${2:-python3}
    version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    missing+=("python${version}-venv")
fi
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if ! command -v pkg-config >/dev/null 2>&1; then
    missing+=(pkg-config libcfitsio-dev)
elif ! pkg-config --exists cfitsio; then
    missing+=(libcfitsio-dev)
fi
if [ "$browser" = yes ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(cannot)
    fi
    if [ "${as_root[*]}" != cannot ]; then
        echo "installing the missing system packages with apt-get: ${missing[*]}" >&2
        "${as_root[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
        exit 0
    fi
fi

echo "Missing system packages (${missing[*]}): install a C++ compiler, pkg-config, cfitsio, Python's venv and headers" \
     "(and for the tests a headless Chromium) with" \
     "'apt-get install g++ pkg-config libcfitsio-dev python3-venv python3-dev chromium' (Debian/Ubuntu)," \
     "'dnf install gcc-c++ pkgconf cfitsio-devel' (Fedora), 'brew install cfitsio pkg-config' (macOS/Homebrew)" \
     "or 'conda install -c conda-forge cxx-compiler cfitsio pkg-config' (conda), then run make again." >&2
exit 1
