#!/usr/bin/env bash
# Install a Chromium so that plotly/kaleido can export static figures (PNG/SVG/PDF),
# plus fonts for the scripts of our languages (Thai, Bengali, Arabic, CJK, Korean...),
# without which those labels render as empty boxes in PNGs.
#
# Idempotent and never fatal: if anything cannot be installed, mechint.plots.save_figure
# still writes self-contained HTML figures, so this script always exits 0.
# It only uses the Debian package registry (apt-get); it never downloads a browser otherwise.
#
# Usage: bash scripts/install_chromium.sh        (MECHINT_SKIP_FONTS=1 to skip the fonts)
set -u

FONT_PACKAGES="fonts-noto-core fonts-wqy-microhei"   # ~14 MB download: Noto (Thai, Bengali, Arabic, ...) + CJK/Hangul

can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }

have_browser() {
    local candidate
    for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome /usr/bin/google-chrome-stable; do
        if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

have_fonts() {
    command -v fc-list >/dev/null 2>&1 || return 1
    local lang
    for lang in th bn ar zh ko; do
        [ -n "$(fc-list ":lang=$lang" family 2>/dev/null | head -n 1)" ] || return 1
    done
}

APT_UPDATED=0
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" -eq 0 ]; then
        apt-get update -qq >/dev/null 2>&1 || return 1
        APT_UPDATED=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}

# 1. the browser
if browser="$(have_browser)"; then
    echo "install_chromium: found $browser; nothing to do for the browser."
elif can_apt; then
    echo "install_chromium: installing Debian package 'chromium' with apt-get (about a minute)..."
    if apt_install chromium && [ -x /usr/bin/chromium ]; then
        echo "install_chromium: installed /usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null))."
    else
        echo "install_chromium: NOTE: could not install chromium with apt-get;" \
             "figures will be saved as HTML only (no PNG)." >&2
        exit 0
    fi
else
    cat >&2 <<'MSG'
install_chromium: no Chromium/Chrome found, and this script installs one only as root with apt-get.
To export PNG figures, install a Chromium-based browser, for example:
    sudo apt-get install chromium       # Debian (Ubuntu: a Google Chrome .deb, or the chromium snap)
    sudo dnf install chromium           # Fedora
    brew install --cask chromium        # macOS
or set BROWSER_PATH to an existing Chrome/Chromium executable.
Until then, mechint saves figures as self-contained HTML only.
MSG
    exit 0
fi

# 2. fonts for non-Latin scripts (optional, best effort)
if [ "${MECHINT_SKIP_FONTS:-0}" = "1" ]; then
    exit 0
fi
if have_fonts; then
    echo "install_chromium: fonts for th/bn/ar/zh/ko present; nothing to do for fonts."
elif can_apt; then
    echo "install_chromium: installing fonts ($FONT_PACKAGES)..."
    if apt_install $FONT_PACKAGES; then
        echo "install_chromium: fonts installed."
    else
        echo "install_chromium: NOTE: could not install fonts; non-Latin labels may show as boxes in PNGs." >&2
    fi
else
    echo "install_chromium: NOTE: fonts for Thai/Bengali/Arabic/CJK not found; install e.g. $FONT_PACKAGES" \
         "or non-Latin labels may show as boxes in PNGs." >&2
fi
exit 0
