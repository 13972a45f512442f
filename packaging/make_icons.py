"""Render the application icon from its SVG source into every size the installers need.

Writes, beside ``regviewer/resources/icons/regviewer.svg``: ``regviewer-<N>.png`` (16 ... 1024 px),
``regviewer.ico`` (Windows: 16, 24, 32, 48, 64, 128, 256) and ``regviewer.icns`` (macOS: 16 ... 1024).
Qt's SVG renderer draws the PNGs (the SVG stays the one source); Pillow packs the ICO and ICNS.

usage: QT_QPA_PLATFORM=offscreen python packaging/make_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "regviewer" / "resources" / "icons"
SVG = ICONS / "regviewer.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# The sizes Pillow's ICNS writer packs (it picks them from the largest image it is given).
ICNS_SOURCE = 1024
KEEP_PNG = (16, 32, 48, 64, 128, 256, 512)  # the PNGs kept in the package (1024 only feeds the ICNS)


def render_png(size: int) -> Path:
    """Draw the SVG at ``size`` x ``size`` pixels with a transparent background and save it as PNG."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    path = ICONS / f"regviewer-{size}.png"
    if not image.save(str(path)):
        raise SystemExit(f"could not write {path}")
    return path


def main() -> int:
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])  # noqa: F841  (QImage/QPainter need an application for fonts)
    pngs = {size: render_png(size) for size in PNG_SIZES}
    largest = Image.open(pngs[256]).convert("RGBA")
    largest.save(ICONS / "regviewer.ico", sizes=[(s, s) for s in ICO_SIZES])
    Image.open(pngs[ICNS_SOURCE]).convert("RGBA").save(ICONS / "regviewer.icns")
    for size, path in pngs.items():
        if size not in KEEP_PNG:
            path.unlink()
    for path in sorted(ICONS.iterdir()):
        print(f"{path.stat().st_size:>9,d}  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
