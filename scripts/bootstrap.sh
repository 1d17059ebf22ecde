# Sourced by scripts/cluster and scripts/test: make sure .venv exists with the project installed,
# and (for the tests) that the Debian client packages are there. Idempotent and quiet when done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$ROOT/setup.cfg" -nt "$STAMP" ]; then
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e "$ROOT[test]"
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"

need_debian_packages() {
    local missing=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root" >&2
        return 0
    fi
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# PostgreSQL's server programs (initdb, pg_ctl): on PATH, or in Debian's versioned folder.
have_postgresql() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

# Install Debian's `postgresql` when missing and we are root. The tests start a throwaway
# server of their own (initdb + pg_ctl in a temporary folder, as the `postgres` user), so
# whatever cluster the package starts is not used.
need_postgresql() {
    have_postgresql && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL is missing: install it (apt-get install postgresql) or run as root" >&2
        return 0
    fi
    { apt-get update -qq >/dev/null && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
        echo "Debian's postgresql is not installable here" >&2
    return 0
}

# Debian's `chromium` for the console's browser tests (Playwright drives that executable and
# never downloads a browser of its own). When it cannot be installed, those tests skip and
# say why; the console's HTTP tests run all the same.
need_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "chromium is missing: install it (apt-get install chromium) or run as root;" \
             "the console's browser tests will be skipped" >&2
        return 0
    fi
    { apt-get update -qq >/dev/null && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
        echo "Debian's chromium is not installable here: the console's browser tests will be" \
             "skipped" >&2
    return 0
}
