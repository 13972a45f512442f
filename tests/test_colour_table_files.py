"""Colour tables that only name labels: atlas XML (SPM AAL, FSL), name lists, and a table beside the label map."""

from __future__ import annotations

import pytest

from regviewer.core.colour_table import generic_colour, read_colour_table, sidecar_table
from regviewer.core.errors import ImageReadError


def test_spm_and_fsl_xml(tmp_path):
    spm = tmp_path / "aal.xml"
    spm.write_text(
        "<atlas><data><label><index>2001</index><name>Precentral_L</name></label>"
        "<label><index>2002</index><name>Precentral_R</name></label></data></atlas>"
    )
    table = read_colour_table(spm)
    assert table.names == {2001: "Precentral_L", 2002: "Precentral_R"} and table.colour(2001) == generic_colour(2001)
    fsl = tmp_path / "ho.xml"
    fsl.write_text(
        '<atlas><data><label index="0" x="48" y="94" z="35">Frontal Pole</label>'
        '<label index="1">Insular Cortex</label></data></atlas>'
    )
    assert read_colour_table(fsl).names == {1: "Frontal Pole", 2: "Insular Cortex"}  # FSL indices are value - 1
    broken = tmp_path / "broken.xml"
    broken.write_text("<atlas><label>")
    with pytest.raises(ImageReadError, match="XML"):
        read_colour_table(broken)


def test_name_lists_and_the_table_beside_a_label_map(tmp_path):
    (tmp_path / "atlas.nii.gz").write_bytes(b"")
    (tmp_path / "atlas.tsv").write_text("index\tname\n101\tAmygdala_L\n102\tAmygdala_R\n")
    assert sidecar_table(tmp_path / "atlas.nii.gz").names == {101: "Amygdala_L", 102: "Amygdala_R"}
    (tmp_path / "atlas.txt").write_text("1 Precentral_L 2001\n")  # not a colour table (3 columns): skipped
    assert sidecar_table(tmp_path / "atlas.nii.gz").source == "atlas.tsv"
    assert sidecar_table(tmp_path / "other.nii.gz") is None
    spaced = tmp_path / "names.txt"
    spaced.write_text("# comment\n5 Hippocampus\n")
    assert read_colour_table(spaced).names == {5: "Hippocampus"}
