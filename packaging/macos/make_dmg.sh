#!/usr/bin/env bash
# macOS: the spec already builds packaging/dist/RegViewer.app (Info.plist with document types for NIfTI, NRRD,
# MetaImage and .regviewer sessions; icon regviewer.icns). This wraps it in a compressed disk image with an
# Applications link to drag it onto. usage: packaging/macos/make_dmg.sh   (on macOS, after pyinstaller)
set -euo pipefail
cd "$(dirname "$0")/../.."
APP=packaging/dist/RegViewer.app
[ -d "$APP" ] || { echo "no $APP: run pyinstaller with packaging/regviewer.spec on macOS first" >&2; exit 2; }
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' regviewer/__init__.py)
/usr/libexec/PlistBuddy -c "Print :CFBundleDocumentTypes:0:CFBundleTypeExtensions" "$APP/Contents/Info.plist"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
# Unsigned builds: codesign --force --deep --sign - gives an ad-hoc signature so Apple silicon runs it;
# a release signs with a Developer ID and notarises (xcrun notarytool) before hdiutil.
codesign --force --deep --sign - "$STAGE/RegViewer.app"
DMG="packaging/dist/RegViewer-$VERSION.dmg"
rm -f "$DMG"
hdiutil create -volname "RegViewer $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
echo "$DMG ($(du -h "$DMG" | cut -f1))"
