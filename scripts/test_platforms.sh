#!/usr/bin/env bash
# make test-platforms: the README's test command (`make test`) inside Debian chroots of the other
# QGIS generations the plugin supports, so one machine tests them all:
#
#   trixie  Debian 13       QGIS 3.40 LTR, Python 3.13, numpy 2.2
#   forky   Debian testing  QGIS 3.44,     Python 3.14, numpy 2.4
#
# Usage (as root, or a user with sudo):
#   scripts/test_platforms.sh                  build what is missing, then `make test` in each
#   scripts/test_platforms.sh --prepare        only build the chroots and run `make setup` in them
#   scripts/test_platforms.sh trixie -- ARGS   one suite; ARGS go to pytest (scripts/test.sh ARGS)
#
# The chroots live outside the repository, one per suite, in $INSARHUB_CHROOTS
# (default /var/cache/insarhub/chroots), and are reused by later runs on the same machine: a
# chroot is only used once it was built to the end (built as <suite>.partial, then renamed).
# `make setup` inside it is idempotent, so a second run goes straight to the tests.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHROOTS=${INSARHUB_CHROOTS:-/var/cache/insarhub/chroots}
ALL_SUITES="trixie forky"

prepare_only=0
suites=()
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --prepare) prepare_only=1 ;;
        --) shift; pytest_args=("$@"); break ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        trixie|forky) suites+=("$1") ;;
        *) echo "test_platforms: unknown argument '$1' (suites: $ALL_SUITES)" >&2; exit 2 ;;
    esac
    shift
done
[ ${#suites[@]} -gt 0 ] || read -r -a suites <<< "$ALL_SUITES"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test_platforms: needs root (debootstrap, chroot, mount) or sudo" >&2; exit 1; }
    SUDO="sudo"
fi

say() { echo "[platforms $(date +%H:%M:%S)] $*"; }

# The Debian mirror this machine's apt already uses (deb822 sources first, then the classic list).
debian_mirror() {
    local uri=""
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_host_tools() {
    local need=()
    command -v debootstrap >/dev/null || need+=(debootstrap)
    command -v tar >/dev/null || need+=(tar)
    if [ ${#need[@]} -gt 0 ]; then
        say "installing ${need[*]} on this machine"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
    fi
}

# What the chroot needs from this machine to reach Debian and the package registry: DNS and the
# CA certificates this machine trusts (pip fails on the registry without them).
copy_host_trust() {
    local root=$1
    $SUDO cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        $SUDO mkdir -p "$root/usr/local/share/ca-certificates"
        $SUDO cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    fi
    $SUDO chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
}

build_chroot() {
    local suite=$1 root="$CHROOTS/$1" partial="$CHROOTS/$1.partial" script="" mirror
    mirror=$(debian_mirror)
    [ -d "$root" ] && return 0
    # Debian's debootstrap may predate the suite's name: forky is built with sid's script.
    [ -e "/usr/share/debootstrap/scripts/$suite" ] || script=/usr/share/debootstrap/scripts/sid
    say "$suite: debootstrap from $mirror (a few minutes, once per machine)"
    $SUDO rm -rf "$partial"
    $SUDO mkdir -p "$CHROOTS"
    if ! $SUDO debootstrap --variant=minbase --include=ca-certificates,make,sudo "$suite" "$partial" "$mirror" $script \
            > "$CHROOTS/$suite.debootstrap.log" 2>&1; then
        echo "test_platforms: debootstrap of $suite failed; the end of $CHROOTS/$suite.debootstrap.log:" >&2
        tail -n 20 "$CHROOTS/$suite.debootstrap.log" >&2
        exit 1
    fi
    # Testing suites carry short Valid-Until dates; a mirror snapshot may be past them.
    echo 'Acquire::Check-Valid-Until "false";' | $SUDO tee "$partial/etc/apt/apt.conf.d/99insarhub-valid-until" >/dev/null
    echo 'APT::Install-Recommends "false";' | $SUDO tee "$partial/etc/apt/apt.conf.d/99insarhub-no-recommends" >/dev/null
    $SUDO mv "$partial" "$root"
}

# Where this checkout goes inside a chroot: one folder per checkout, so several checkouts of
# the project (worktrees) can use one chroot, each with its own .venv.
DEST="/work/$(basename "$REPO")-$(printf %s "$REPO" | sha1sum | cut -c1-8)"

# The repository as a clean clone would have it (tracked and new files, nothing ignored), copied
# over the chroot's copy; the chroot's own .venv stays so `make setup` is quick the second time.
sync_repo() {
    local root=$1 dest="$1$DEST"
    $SUDO mkdir -p "$dest"
    $SUDO find "$dest" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
    (cd "$REPO" && git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) \
        | $SUDO tar -xf - -C "$dest"
    # ../shared beside the checkout (the contract and real fixtures some tests read), if present.
    if [ -d "$REPO/../shared" ] && [ ! -d "$root/work/shared" ]; then
        $SUDO cp -r "$REPO/../shared" "$root/work/shared.tmp.$$" && $SUDO mv "$root/work/shared.tmp.$$" "$root/work/shared"
    fi
}

# Run a command in the chroot, in the checkout's folder, with a clean environment. The kernel
# file systems are mounted in a mount namespace of the command's own (MintPy's dask needs
# /dev/shm), so they vanish with it: nothing to unmount, and concurrent runs do not interfere.
in_chroot() {
    local root=$1; shift
    $SUDO unshare --mount --propagation private -- /bin/bash -c '
        set -e
        root=$1 dest=$2; shift 2
        mount -t proc proc "$root/proc"
        for m in sys dev dev/pts dev/shm; do mkdir -p "$root/$m"; mount --bind "/$m" "$root/$m"; done
        exec chroot "$root" /usr/bin/env -i \
            HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive TERM=dumb \
            PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
            SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
            INSARHUB_PLATFORM_SUITE="$(basename "$root")" INSARHUB_TEST_GDB="${INSARHUB_TEST_GDB:-}" \
            /bin/bash -c "cd \"\$0\" && exec \"\$@\"" "$dest" "$@"
    ' bash "$root" "$DEST" "$@"
}

ensure_host_tools
status=0
for suite in "${suites[@]}"; do
    root="$CHROOTS/$suite"
    build_chroot "$suite"
    copy_host_trust "$root"
    sync_repo "$root"
    say "$suite: make setup"
    if ! in_chroot "$root" make -s setup 2>&1 | sed -u "s/^/[$suite] /"; then
        echo "test_platforms: make setup failed in the $suite chroot ($root)" >&2
        status=1; continue
    fi
    if [ $prepare_only -eq 0 ]; then
        say "$suite: make test (QGIS $(in_chroot "$root" dpkg-query -W -f='${Version}' qgis 2>/dev/null || echo '?'))"
        # $INSARHUB_TEST_LOGS (CI sets it): keep each suite's output there too, for its crash digest
        log=${INSARHUB_TEST_LOGS:+$INSARHUB_TEST_LOGS/$suite.log}
        if [ ${#pytest_args[@]} -gt 0 ]; then
            in_chroot "$root" ./scripts/test.sh "${pytest_args[@]}" 2>&1 | sed -u "s/^/[$suite] /" | tee ${log:+"$log"} || status=1
        else
            in_chroot "$root" make -s test 2>&1 | sed -u "s/^/[$suite] /" | tee ${log:+"$log"} || status=1
        fi
    fi
done
exit $status
