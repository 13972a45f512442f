"""The window-related command lines: regviewer render, --demo, --info and the no-display message."""

import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from regviewer import paths
from regviewer.cli.main import main


def test_render_writes_the_view_grid(qapp, tmp_path, capsys):
    output = tmp_path / "figure.png"
    code = main(
        [
            "render",
            str(paths.SAMPLE_3D_FIXED),
            str(paths.SAMPLE_3D_MOVING),
            "--transform",
            str(paths.SAMPLE_3D_TRUTH),
            "--labels",
            str(paths.SAMPLE_3D_FIXED_LABELS),
            str(paths.SAMPLE_3D_MOVING_LABELS),
            "--mode",
            "difference",
            "--plane",
            "coronal",
            "--slice-mm",
            "5",
            "--size",
            "800x600",
            "-o",
            str(output),
        ]
    )
    assert code == 0 and "wrote" in capsys.readouterr().out
    image = QImage(str(output))
    assert (image.width(), image.height()) == (800, 600)
    colours = {image.pixel(x, y) for x in range(0, 800, 17) for y in range(0, 600, 13)}
    assert len(colours) > 50  # images, not an empty grid


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--size", "big"], "--size must look like"),
        (["--plane", "sagittal", "-o", "figure.jpg"], "must be a .png"),
    ],
)
def test_render_bad_options_give_one_line(qapp, tmp_path, capsys, arguments, message):
    base = ["render", str(paths.SAMPLE_2D_FIXED), str(paths.SAMPLE_2D_MOVING)]
    if "-o" not in arguments:
        arguments = arguments + ["-o", str(tmp_path / "figure.png")]
    assert main(base + arguments) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_render_refuses_a_plane_a_2d_image_lacks(qapp, tmp_path, capsys):
    code = main(
        [
            "render",
            str(paths.SAMPLE_2D_FIXED),
            str(paths.SAMPLE_2D_MOVING),
            "--plane",
            "coronal",
            "-o",
            str(tmp_path / "f.png"),
        ]
    )
    assert code == 2 and "not available" in capsys.readouterr().err


def test_demo_opens_the_window(qapp, qtbot, monkeypatch):
    from regviewer.gui import app as gui_app
    from regviewer.gui import main_window

    class _Application:  # the real QApplication, with an event loop that returns at once
        def exec(self):
            qapp.processEvents()
            return 0

    opened = []
    original = main_window.MainWindow.show

    def show(window):
        original(window)
        qtbot.addWidget(window)
        opened.append(window)

    monkeypatch.setattr(gui_app, "application", _Application)
    monkeypatch.setattr(main_window.MainWindow, "show", show)
    assert main(["--demo", "2d"]) == 0
    assert opened and opened[0].isVisible()
    assert opened[0].grid.scene.fixed.name == paths.SAMPLE_2D_FIXED.name


def test_info_flag_runs_the_report(monkeypatch):
    import regviewer.cli.info as info

    monkeypatch.setattr(info, "run_info", lambda: 7)
    assert main(["--info"]) == 7


def test_no_display_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run(
        [sys.executable, "-m", "regviewer", str(paths.SAMPLE_2D_FIXED), str(paths.SAMPLE_2D_MOVING)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if sys.platform.startswith("linux"):
        assert done.returncode == 2
        assert "no display found" in done.stderr and "Traceback" not in done.stderr


def test_render_draws_overlays(qapp, tmp_path, capsys):
    """--overlay grid,jacobian,labels,arrows: the figure differs from the plain one where the overlays are."""
    plain, overlaid = tmp_path / "plain.png", tmp_path / "overlays.png"
    base = [
        "render",
        str(paths.SAMPLE_3D_FIXED),
        str(paths.SAMPLE_3D_MOVING),
        "--transform",
        str(paths.SAMPLE_3D_TRUTH),
        "--labels",
        str(paths.SAMPLE_3D_FIXED_LABELS),
        str(paths.SAMPLE_3D_MOVING_LABELS),
        "--size",
        "800x600",
    ]
    assert main(base + ["-o", str(plain)]) == 0
    assert main(base + ["--overlay", "grid,jacobian,labels,arrows", "-o", str(overlaid)]) == 0
    first, second = QImage(str(plain)), QImage(str(overlaid))
    changed = sum(first.pixel(x, y) != second.pixel(x, y) for x in range(0, 800, 7) for y in range(0, 600, 7))
    assert changed > 1000
    # The grid's yellow lines appear on the Moving and Warped views (top right, bottom left).
    yellow = sum(
        1
        for x in range(400, 800, 3)
        for y in range(20, 290, 3)
        if (lambda c: c.red() > 200 and c.green() > 170 and c.blue() < 80)(second.pixelColor(x, y))
    )
    assert yellow > 50


def test_render_unknown_overlay_gives_one_line(qapp, tmp_path, capsys):
    code = main(
        [
            "render",
            str(paths.SAMPLE_2D_FIXED),
            str(paths.SAMPLE_2D_MOVING),
            "--overlay",
            "grid,bogus",
            "-o",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 2
    assert "unknown overlay 'bogus'" in capsys.readouterr().err
    code = main(
        [
            "render",
            str(paths.SAMPLE_2D_FIXED),
            str(paths.SAMPLE_2D_MOVING),
            "--overlay",
            "labels",
            "-o",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 2
    assert "needs a label map" in capsys.readouterr().err


def test_window_start_off_screen_never_waits_for_a_recovery_question(qtbot, monkeypatch, tmp_path):
    """A crashed session's recovery slot is offered only where someone can answer: off screen (CI,
    --smoke-test) the start goes on and the slot stays for the next interactive start."""
    from regviewer.gui import app as gui_app
    from regviewer.gui import main_window, session_actions

    monkeypatch.setenv("REGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    asked = []
    monkeypatch.setattr(session_actions.SessionActions, "offer_recovery", lambda self, *a, **k: asked.append(1))
    qapp = gui_app.application()

    class _Application:
        def exec(self):
            qapp.processEvents()
            return 0

    monkeypatch.setattr(gui_app, "application", _Application)
    original = main_window.MainWindow.show
    monkeypatch.setattr(main_window.MainWindow, "show", lambda w: (original(w), qtbot.addWidget(w)))
    assert main(["--demo", "2d"]) == 0
    assert asked == []  # before the fix the start asked (and, with a real dialog, waited forever)
