"""Print the size of a PyInstaller one-folder bundle per part (torch, Qt, SimpleITK, scipy ...), largest first.

usage: python packaging/bundle_sizes.py packaging/dist/regviewer
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

# Top-level names inside _internal/ grouped into the parts a reader recognises.
GROUPS = {
    "torch": ("torch", "functorch", "torchgen", "libgomp", "libtorch", "libc10", "libshm"),
    "Qt (PySide6, shiboken6)": ("PySide6", "shiboken6", "libQt6", "libpyside6", "libshiboken6"),
    "SimpleITK": ("SimpleITK",),
    "scipy": ("scipy",),
    "numpy": ("numpy",),
    "scikit-image": ("skimage", "lazy_loader"),
    "pyqtgraph": ("pyqtgraph",),
    "nibabel, pydicom": ("nibabel", "pydicom"),
    "Pillow": ("PIL", "pillow"),
    "regviewer (code, sample data, models, icons)": ("regviewer",),
    "Python (interpreter, standard library)": ("libpython", "base_library.zip", "lib-dynload", "python3"),
}


def part_of(name: str) -> str:
    for group, prefixes in GROUPS.items():
        if any(name.startswith(prefix) or name.lower().startswith(prefix.lower()) for prefix in prefixes):
            return group
    return "other libraries"


def main(folder: str) -> int:
    root = Path(folder)
    internal = root / "_internal"
    sizes: Counter[str] = Counter()
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(internal) if internal in path.parents else None
            name = relative.parts[0] if relative is not None else "executable"
            sizes["executable" if relative is None else part_of(name)] += path.stat().st_size
    total = sum(sizes.values())
    print(f"{'part':<48} {'MiB':>8} {'share':>6}")
    for part, size in sizes.most_common():
        print(f"{part:<48} {size / 2**20:>8.1f} {size / total:>6.1%}")
    print(f"{'total':<48} {total / 2**20:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
