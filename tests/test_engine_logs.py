"""Progress parsing of the native engines' logs (no engine needed): elastix's log file read as it grows
(partial lines wait), ANTs' DIAGNOSTIC lines, elastix parameter maps from the schema."""

from __future__ import annotations

from regviewer.registration.ants import DiagnosticFollower
from regviewer.registration.elastix_log import LogFollower
from regviewer.registration.elastix_maps import BENDING_METRIC, build_map, grid_schedule


def test_elastix_log_is_followed_as_it_grows(tmp_path):
    log = tmp_path / "elastix.log"
    follower = LogFollower(log)
    assert follower.poll() == []  # not created yet
    log.write_text("Resolution: 0\nsome setting\n1:ItNr\t2:Metric\t3a:Time\n0\t-0.5\t0.0\n1\t-0.6")
    assert follower.poll() == [(0, 0, -0.5)]  # the unfinished last line waits
    with open(log, "a") as handle:
        handle.write("\t0.0\nTime spent in resolution 0: 1.2\nResolution: 1\n1:ItNr\t2:Metric\n0\t-0.7\t0\n")
    assert follower.poll() == [(0, 1, -0.6), (1, 0, -0.7)]
    assert len(follower.rows) == 3


def test_ants_diagnostic_lines_give_levels_and_metrics():
    follower = DiagnosticFollower()
    text = (
        "DIAGNOSTIC,Iteration,metricValue,convergenceValue\n 2DIAGNOSTIC,     1, -9.2e-01, inf, 3.2e-02\n"
        " 2DIAGNOSTIC,     2, -9.3e-01, inf\nXXDIAGNOSTIC,Iteration,metricValue\n XXDIAGNOSTIC,     1, -4.5e-01, "
    )
    assert follower.feed(text) == [(0, 1, -0.92), (0, 2, -0.93)]
    assert follower.feed("nan\n") == [(1, 1, -0.45)]


def test_bspline_map_follows_the_schema():
    from regviewer.registration.elastix import ElastixBSplineMethod

    method = ElastixBSplineMethod()
    defaults = {p.name: p.default for p in method.parameters}
    built = build_map("bspline", defaults, defaults, False)
    assert built["Metric"] == ["AdvancedNormalizedCorrelation", BENDING_METRIC]
    assert built["FinalGridSpacingInPhysicalUnits"] == ["16"] and built["GridSpacingSchedule"] == grid_schedule(3) == [
        "2",
        "1.41421",
        "1",
    ]
    assert built["Registration"] == ["MultiMetricMultiResolutionRegistration"]
    no_bending = build_map("bspline", {**defaults, "bending_weight": 0.0}, defaults, False)
    assert no_bending["Metric"] == ["AdvancedNormalizedCorrelation"] and no_bending["Registration"] == [
        "MultiResolutionRegistration"
    ]
