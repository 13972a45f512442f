#!/usr/bin/env bash
# Wrap the one-folder bundle (packaging/dist/regviewer, from packaging/regviewer.spec) as a Debian package:
# /opt/regviewer (the bundle), /usr/bin/regviewer (launcher), a .desktop entry, the icon in every size, MIME
# types for session and image files. usage: packaging/linux/build_deb.sh [OUTPUT_FOLDER]  (default packaging/dist)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE="${BUNDLE:-packaging/dist/regviewer}"
OUT="${1:-packaging/dist}"
[ -x "$BUNDLE/regviewer" ] || { echo "no bundle at $BUNDLE: run pyinstaller with packaging/regviewer.spec first" >&2; exit 2; }
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' regviewer/__init__.py)
ARCH=$(dpkg --print-architecture)
ICONS=regviewer/resources/icons
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 755 "$STAGE"

mkdir -p "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" "$STAGE/usr/share/mime/packages" \
         "$STAGE/usr/share/doc/regviewer" "$STAGE/DEBIAN"
cp -a "$BUNDLE" "$STAGE/opt/regviewer"
cat > "$STAGE/usr/bin/regviewer" <<'SH'
#!/bin/sh
# RegViewer launcher: the bundle lives in /opt/regviewer.
exec /opt/regviewer/regviewer "$@"
SH
chmod 755 "$STAGE/usr/bin/regviewer"
install -m 644 packaging/linux/regviewer.desktop "$STAGE/usr/share/applications/regviewer.desktop"
install -m 644 packaging/linux/regviewer-mime.xml "$STAGE/usr/share/mime/packages/regviewer.xml"
for size in 16 32 48 64 128 256 512; do
  install -D -m 644 "$ICONS/regviewer-$size.png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/regviewer.png"
done
install -D -m 644 "$ICONS/regviewer.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/regviewer.svg"
install -m 644 LICENSE "$STAGE/usr/share/doc/regviewer/copyright"

INSTALLED_KB=$(du -sk "$STAGE" --exclude=DEBIAN | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: regviewer
Version: $VERSION
Architecture: $ARCH
Maintainer: RegViewer contributors <regviewer@users.noreply.github.com>
Installed-Size: $INSTALLED_KB
Section: science
Priority: optional
Homepage: https://github.com/regviewer/regviewer
Depends: libc6 (>= 2.31), libgl1, libegl1, libfontconfig1, libfreetype6, libdbus-1-3, libglib2.0-0,
 libxkbcommon0, libxkbcommon-x11-0, libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-icccm4,
 libxcb-keysyms1, libxcb-image0, libxcb-render-util0, libxcb-randr0, libxcb-shape0, libxcb-xfixes0,
 libxcb-sync1, libxcb-shm0, libxcb-xkb1, libxcb-render0
Description: desktop workbench for medical image registration
 Open a fixed and a moving image (NIfTI, NRRD, MetaImage, DICOM, PNG/JPG/TIFF), register them with
 classical (SimpleITK) or learned (PyTorch, CPU) engines and check the alignment in linked views.
 Self-contained: Python and its libraries are bundled in /opt/regviewer.
CONTROL
cat > "$STAGE/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q /usr/share/applications || true
command -v update-mime-database >/dev/null 2>&1 && update-mime-database /usr/share/mime || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
exit 0
SH
cp "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/postrm"
chmod 755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/postrm"

mkdir -p "$OUT"
DEB="$OUT/regviewer_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-gzip}" -z6 --build "$STAGE" "$DEB" >/dev/null
echo "$DEB ($(du -h "$DEB" | cut -f1), installs $((INSTALLED_KB / 1024)) MiB)"
