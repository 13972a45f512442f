"""The atomic writer: complete files under final names, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from regviewer.core.errors import ImageWriteError
from regviewer.core.io.atomic import atomic_path, split_extension, temporary_sibling, write_text_atomic


def test_temporary_keeps_the_extension_and_folder(tmp_path):
    temporary = temporary_sibling(tmp_path / "warped.nii.gz")
    assert temporary.parent == tmp_path and temporary.name.endswith(".nii.gz") and temporary.name.startswith(".")
    assert split_extension(Path("a.b.tfm")) == ("a.b", ".tfm")


def test_success_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "transform.tfm"
    target.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed while writing")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["transform.tfm"]


def test_os_error_becomes_one_line_naming_the_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ImageWriteError, match="file/out.json"):
        write_text_atomic(blocker / "out.json", "{}")
