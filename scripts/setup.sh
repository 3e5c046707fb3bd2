#!/usr/bin/env bash
# Set up what `make run` and `make test` need on Debian 12, idempotently:
#
#   1. system tools from Debian's packages (apt, only as root, only the missing ones);
#   2. restic >= 0.17 in ./tools/bin (Debian 13's package, fetched with apt from a
#      temporary `trixie` sources list and unpacked with dpkg-deb: no system change);
#   3. the virtualenv ./.venv with the project and its test extras.
#
# A second run is fast: installed packages are checked with dpkg-query, restic by
# its version, and the venv by a stamp (.venv/.installed) keyed on pyproject.toml.
# Not root: apt is never called; what is missing is named and the rest goes on.
#
# The Debian mirror is read from this machine's apt sources at run time: no
# package-server host name is written in this project (EGOV_DEBIAN_MIRROR
# overrides it). The file can be sourced (tests call its functions); `main` runs
# only when it is executed.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_DIR="$ROOT_DIR/.venv"
TOOLS_DIR="$ROOT_DIR/tools"
RESTIC_MIN_VERSION=0.17
# Debian's archive keyring on bookworm also holds the trixie signing keys.
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# Debian's hook that tells maintainer scripts whether they may start services.
POLICY_RC=/usr/sbin/policy-rc.d

# Debian packages the project uses (see DESIGN.md "Tools that are not Python packages").
# openssh-sftp-server is named because restic reaches lab hosts over sftp:.
APT_PACKAGES=(
    openssh-server openssh-client openssh-sftp-server
    iproute2 iputils-arping nftables procps psmisc util-linux
    ca-certificates python3-venv postgresql chromium sqlite3
    prometheus prometheus-alertmanager lynis git make
    # Browser tests: Chinese glyphs in chromium's screenshots (zh-CN interface).
    fonts-noto-cjk
    # Availability reports: pdftotext reads the PDF chromium printed (its test checks the Chinese headings).
    poppler-utils
    # HTTPS console: the browser test trusts the control plane's CA in a fresh NSS database (certutil).
    libnss3-tools
    # egov install-service: its test runs systemd-analyze verify on the units (slim images lack systemd).
    systemd
)

APT_UPDATED=0
POLICY_RC_WRITTEN=0
CLEANUP_DIRS=()

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

cleanup() {
    # Runs on every exit, so an interrupted apt run never leaves services blocked.
    release_services
    local dir
    for dir in "${CLEANUP_DIRS[@]+"${CLEANUP_DIRS[@]}"}"; do
        rm -rf -- "$dir"
    done
    CLEANUP_DIRS=()
}

# version_ge A B: true when version A >= version B (dotted, compared as versions).
version_ge() {
    [[ -n "$1" && -n "$2" ]] || return 1
    [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

# restic_version BINARY: print the version BINARY reports ("0.18.0"), or nothing.
restic_version() {
    "$1" version 2>/dev/null | awk 'NR == 1 && $1 == "restic" { print $2 }' || true
}

# os_codename: this machine's Debian codename (bookworm on Debian 12).
os_codename() {
    local codename=""
    if [[ -r /etc/os-release ]]; then
        # shellcheck source=/dev/null
        codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    fi
    printf '%s\n' "${codename:-bookworm}"
}

# debian_mirror [SOURCES_DIR] [SOURCES_LIST] [CODENAME]
# Print the URI of the Debian archive this machine's apt uses (not -security,
# not a third-party repository), from deb822 SOURCES_DIR/*.sources first, then
# one-line SOURCES_LIST and SOURCES_DIR/*.list. Returns 1 when none is found.
debian_mirror() {
    local dir=${1:-/etc/apt/sources.list.d} list=${2:-/etc/apt/sources.list}
    local codename=${3:-$(os_codename)}
    local -a deb822=() oneline=()
    local file
    for file in "$dir"/*.sources; do [[ -f "$file" ]] && deb822+=("$file"); done
    [[ -f "$list" ]] && oneline+=("$list")
    for file in "$dir"/*.list; do [[ -f "$file" ]] && oneline+=("$file"); done

    local uri=""
    if ((${#deb822[@]})); then
        uri=$(awk -v codename="$codename" -f <(_deb822_awk) "${deb822[@]}")
    fi
    if [[ -z "$uri" ]] && ((${#oneline[@]})); then
        uri=$(awk -v codename="$codename" -f <(_oneline_awk) "${oneline[@]}")
    fi
    [[ -n "$uri" ]] || return 1
    printf '%s\n' "${uri%/}"
}

# The awk programs behind debian_mirror. A suite counts when it is exactly the
# codename (or stable/oldstable), which excludes bookworm-security/-updates as
# the only match and every third-party suite ("nodistro", "cloud-sdk-bookworm").
_mirror_filters_awk() {
    cat <<'AWK'
function suite_ok(s) { return s == codename || s == "stable" || s == "oldstable" }
function uri_ok(u) { return u !~ /security/ && u !~ /^(cdrom|file|copy):/ && u ~ /:\/\// }
AWK
}

_deb822_awk() {
    _mirror_filters_awk
    cat <<'AWK'
function has_word(list, word,   n, i, words) {
    n = split(list, words, /[ \t]+/)
    for (i = 1; i <= n; i++) if (words[i] == word) return 1
    return 0
}
function has_suite(list,   n, i, words) {
    n = split(list, words, /[ \t]+/)
    for (i = 1; i <= n; i++) if (suite_ok(words[i])) return 1
    return 0
}
function flush(   n, i, uris) {
    if (("uris" in f) && tolower(f["enabled"]) != "no" && has_word(f["types"], "deb") &&
        has_suite(f["suites"])) {
        n = split(f["uris"], uris, /[ \t]+/)
        for (i = 1; i <= n; i++) if (uris[i] != "" && uri_ok(uris[i])) { print uris[i]; done = 1; exit }
    }
    delete f
    key = ""
}
FNR == 1 && NR > 1 { flush() }
/^[ \t]*#/ { next }
/^[ \t]*$/ { flush(); next }
/^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
{
    key = tolower(substr($0, 1, index($0, ":") - 1))
    value = substr($0, index($0, ":") + 1)
    gsub(/^[ \t]+|[ \t]+$/, "", value)
    f[key] = value
}
END { if (!done) flush() }
AWK
}

_oneline_awk() {
    _mirror_filters_awk
    cat <<'AWK'
/^[ \t]*#/ { next }
$1 == "deb" {
    i = 2
    if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
    if (i + 1 <= NF && uri_ok($i) && suite_ok($(i + 1))) { print $i; exit }
}
AWK
}

# missing_packages PKG...: print each package dpkg does not list as installed.
missing_packages() {
    local package status
    for package in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
        [[ "$status" == "installed" ]] || printf '%s\n' "$package"
    done
}

# apt_get ARGS...: apt-get without questions; on a freshly booted machine
# unattended-upgrades may hold the dpkg lock for a while, so wait for it.
apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

apt_update_once() {
    if ((APT_UPDATED == 0)); then
        say "apt-get update"
        apt_get update
        APT_UPDATED=1
    fi
}

# hold_services: keep package maintainer scripts from starting daemons (the
# system sshd, a postgresql cluster) while we install. The lab runs its own sshd
# per network namespace and the store tests their own initdb cluster, so a
# system sshd listening on :22 would only be exposure. Uses Debian's standard
# policy-rc.d hook, only when none exists, and removes it on exit.
hold_services() {
    if [[ -e "$POLICY_RC" ]]; then
        return
    fi
    printf '#!/bin/sh\n# written by egov scripts/setup.sh for one apt run\nexit 101\n' \
        >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    POLICY_RC_WRITTEN=1
}

release_services() {
    if ((POLICY_RC_WRITTEN)); then
        rm -f "$POLICY_RC"
        POLICY_RC_WRITTEN=0
    fi
}

install_system_packages() {
    if ! command -v dpkg-query >/dev/null; then
        warn "dpkg-query not found: not a Debian system, install by hand: ${APT_PACKAGES[*]}"
        return
    fi
    local -a missing
    mapfile -t missing < <(missing_packages "${APT_PACKAGES[@]}")
    if ((${#missing[@]} == 0)); then
        say "system packages: all present"
        return
    fi
    if ! is_root; then
        warn "not root, so not installing these Debian packages: ${missing[*]}"
        warn "install them as root: apt-get install ${missing[*]}"
        return
    fi
    apt_update_once
    say "installing ${missing[*]} (apt)"
    hold_services
    apt_get install --no-install-recommends "${missing[@]}"
    release_services
}

# fetch_restic: put Debian 13's restic in tools/bin without touching the system's
# apt state: a throw-away sources list, lists dir and cache, and dpkg-deb -x.
fetch_restic() {
    local mirror=${EGOV_DEBIAN_MIRROR:-}
    if [[ -z "$mirror" ]]; then
        mirror=$(debian_mirror /etc/apt/sources.list.d /etc/apt/sources.list) ||
            die "no Debian archive found in /etc/apt/sources.list{,.d}; set EGOV_DEBIAN_MIRROR"
    fi
    [[ -r "$DEBIAN_KEYRING" ]] || die "$DEBIAN_KEYRING missing: apt-get install debian-archive-keyring"

    local tmp
    tmp=$(mktemp -d)
    CLEANUP_DIRS+=("$tmp")
    # apt downloads as the unprivileged _apt user, which must reach these dirs.
    chmod 0755 "$tmp"
    mkdir -p "$tmp/empty" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb" "$tmp/root"
    printf 'deb [signed-by=%s] %s trixie main\n' "$DEBIAN_KEYRING" "$mirror" >"$tmp/sources.list"
    if id _apt >/dev/null 2>&1; then
        chown _apt "$tmp/deb" "$tmp/lists/partial" "$tmp/cache/archives/partial"
    fi
    local -a options=(
        -o "Dir::Etc::SourceList=$tmp/sources.list"
        -o "Dir::Etc::SourceParts=$tmp/empty"
        -o "Dir::Etc::Preferences=$tmp/preferences"
        -o "Dir::Etc::PreferencesParts=$tmp/empty"
        -o "Dir::State::Lists=$tmp/lists"
        -o "Dir::Cache=$tmp/cache"
        -o "Acquire::Languages=none"
    )
    say "installing restic from Debian trixie into tools/bin (temporary apt sources)"
    apt_get "${options[@]}" update
    (cd "$tmp/deb" && apt_get "${options[@]}" download restic)

    local deb
    deb=$(find "$tmp/deb" -maxdepth 1 -name 'restic_*.deb' -print -quit)
    [[ -n "$deb" ]] || die "apt-get download restic left no .deb"
    dpkg-deb -x "$deb" "$tmp/root"
    [[ -x "$tmp/root/usr/bin/restic" ]] || die "$(basename "$deb") has no usr/bin/restic"

    mkdir -p "$TOOLS_DIR/bin"
    # Copy then rename, so a concurrent reader never sees half a binary.
    install -m 0755 "$tmp/root/usr/bin/restic" "$TOOLS_DIR/bin/.restic.new"
    mv -f "$TOOLS_DIR/bin/.restic.new" "$TOOLS_DIR/bin/restic"
    basename "$deb" >"$TOOLS_DIR/restic.source"
}

ensure_restic() {
    local version tool="$TOOLS_DIR/bin/restic"
    if [[ -x "$tool" ]]; then
        version=$(restic_version "$tool")
        if version_ge "$version" "$RESTIC_MIN_VERSION"; then
            say "restic $version: tools/bin/restic"
            return
        fi
    fi
    local system
    if system=$(command -v restic); then
        version=$(restic_version "$system")
        if version_ge "$version" "$RESTIC_MIN_VERSION"; then
            say "restic $version: $system"
            return
        fi
        say "system restic $system is ${version:-of unknown version}, need >= $RESTIC_MIN_VERSION"
    fi
    if ! is_root; then
        warn "not root, so not fetching restic >= $RESTIC_MIN_VERSION into tools/bin (run this as root)"
        return
    fi
    for needed in apt-get dpkg-deb; do
        command -v "$needed" >/dev/null || die "$needed not found: cannot fetch restic"
    done
    fetch_restic
    version=$(restic_version "$tool")
    version_ge "$version" "$RESTIC_MIN_VERSION" ||
        die "tools/bin/restic reports '${version:-nothing}', need >= $RESTIC_MIN_VERSION"
    say "restic $version: tools/bin/restic"
}

# venv_stamp: what the installed venv must match: pyproject.toml and the Python.
venv_stamp() {
    {
        sha256sum "$ROOT_DIR/pyproject.toml" | cut -d' ' -f1
        "$VENV_DIR/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

create_venv() {
    local python=${PYTHON:-python3}
    command -v "$python" >/dev/null || die "$python not found (install python3, or set PYTHON)"
    say "creating .venv with $python"
    if "$python" -m venv "$VENV_DIR"; then
        return
    fi
    # Debian's python3 has no ensurepip without python3-venv; a failed run leaves
    # a venv without pip behind, so remove it before trying again.
    rm -rf "$VENV_DIR"
    is_root || die "python3 -m venv failed: install python3-venv as root (apt-get install python3-venv)"
    apt_update_once
    say "installing python3-venv (apt)"
    apt_get install --no-install-recommends python3-venv
    "$python" -m venv "$VENV_DIR" || die "python3 -m venv failed even with python3-venv"
}

# pip_logged LOG ARGS...: run the venv's pip, its output appended to LOG; print
# what it installed, or the whole log and stop when it fails.
pip_logged() {
    local log=$1
    shift
    local start
    start=$(wc -l <"$log")
    if ! "$VENV_DIR/bin/python" -m pip --disable-pip-version-check --no-input \
        "$@" --progress-bar off >>"$log" 2>&1; then
        cat "$log" >&2
        die "pip $* failed (log: $log)"
    fi
    tail -n +"$((start + 1))" "$log" | grep -E '^Successfully installed' || true
}

ensure_venv() {
    if ! "$VENV_DIR/bin/python" -c 'import sys' >/dev/null 2>&1; then
        # Missing, or made by a Python that is gone: start again.
        rm -rf "$VENV_DIR"
        create_venv
    fi
    local stamp
    stamp=$(venv_stamp)
    if [[ -f "$VENV_DIR/.installed" && "$(cat "$VENV_DIR/.installed")" == "$stamp" &&
        -x "$VENV_DIR/bin/egov" ]]; then
        say "python dependencies: up to date (.venv)"
        return
    fi
    # pip's full output goes to a log (hundreds of "already satisfied" lines); the
    # summary of what it installed is printed, and the whole log on failure.
    local log="$VENV_DIR/pip-install.log"
    : >"$log"
    say "installing pip (upgrade, in .venv)"
    pip_logged "$log" install --upgrade pip
    # Playwright's package is installed, but never `playwright install`: browser
    # tests drive Debian's /usr/bin/chromium.
    say "installing egov-controlplane and its test dependencies (pip install -e '.[test]')"
    (cd "$ROOT_DIR" && pip_logged "$log" install -e '.[test]')
    "$VENV_DIR/bin/python" -c 'import controlplane' ||
        die "the project did not install into .venv (see pip's output above)"
    venv_stamp >"$VENV_DIR/.installed"
}

main() {
    trap cleanup EXIT
    # Turn ^C and TERM into an exit, so the EXIT trap cleans up in every case.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cd "$ROOT_DIR"
    local started=$SECONDS
    install_system_packages
    ensure_restic
    ensure_venv
    say "set-up done in $((SECONDS - started)) s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
