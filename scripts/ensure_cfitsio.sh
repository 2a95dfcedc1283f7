#!/usr/bin/env bash
# Make sure the FITS library the SPoCA programs link against (cfitsio) is installed.
# Installs Debian's libcfitsio-dev and pkg-config when missing and we are root or have sudo;
# otherwise stops with one sentence saying what to install.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists cfitsio; then
    exit 0
fi

packages=(libcfitsio-dev pkg-config)
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        sudo=none
    fi
    if [ "${sudo[*]}" != none ]; then
        echo "cfitsio not found: installing ${packages[*]} with apt-get" >&2
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
        pkg-config --exists cfitsio && exit 0
    fi
fi

echo "The cfitsio library is missing: install it with 'apt-get install libcfitsio-dev pkg-config' (Debian/Ubuntu)," \
     "'dnf install cfitsio-devel pkgconf' (Fedora), 'brew install cfitsio pkg-config' (macOS/Homebrew)" \
     "or 'conda install -c conda-forge cfitsio pkg-config' (conda), then run make again." >&2
exit 1
