"""python -m cyconv demo: fast mode, determinism, figures, the missing-dependency message."""

import io
import subprocess
import sys

import numpy as np
import pytest

from cyconv import demo
from cyconv.__main__ import main


def _needs_demo_deps():
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")


def test_fast_demo_prints_the_chapter(capsys):
    _needs_demo_deps()
    assert main(["demo", "--fast", "--no-figures", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for expected in [
        "[[19. 25.]\n [37. 43.]]",
        "[[ 0.  1.  0.  0.  0. -1.  0.]",
        "Conv2d(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)) -> (2, 2)",
        "[[ 56.  72.]\n [104. 120.]]",
        "K.shape = (3, 2, 2, 2)",
        "[[ 96. 128.]\n  [192. 224.]]",
        "MaxPool2d(3)(X): [[[[10.]]]]",
        "[[[[ 5.  7.]\n   [13. 15.]]\n\n  [[ 6.  8.]\n   [14. 16.]]]]",
        "epoch 10, loss",
        "learned kernel:",
        "total parameters:",
        "epoch 3/3: loss",
        "test accuracy:",
        "small ResNet",
        "Residual(Sequential(5 layers) + Sequential(2 layers))",
        "AdaptiveAvgPool2d(output_size=1)",
        "epoch 2/2: loss",
    ]:
        assert expected in out, expected
    assert out.count("test accuracy:") == 2
    assert "figures" not in out.split("test accuracy")[-1]


def test_same_seed_same_numbers():
    _needs_demo_deps()
    runs = [demo.run(fast=True, figures=False, seed=7, file=io.StringIO()) for _ in range(2)]
    a, b = runs
    np.testing.assert_array_equal(a["edge_kernel"], b["edge_kernel"])
    assert a["edge_losses"] == b["edge_losses"]
    assert a["history"] == b["history"]
    assert a["test_accuracy"] == b["test_accuracy"]
    assert a["resnet"]["history"] == b["resnet"]["history"]
    assert a["resnet"]["test_accuracy"] == b["resnet"]["test_accuracy"]
    assert len(a["resnet"]["history"]["loss"]) == demo.FAST_RESNET_EPOCHS
    assert a["resnet"]["history"]["loss"][-1] < a["resnet"]["history"]["loss"][0]
    assert len(a["history"]["loss"]) == demo.FAST_EPOCHS
    assert a["history"]["loss"][-1] < a["history"]["loss"][0]
    assert a["figures"] == []
    np.testing.assert_allclose(a["edge_kernel"], [[1.0, -1.0]], atol=0.1)
    assert a["examples"]["1x1_max_diff"] < 1e-6


def test_figures_are_written(tmp_path):
    _needs_demo_deps()
    pytest.importorskip("matplotlib")
    out = io.StringIO()
    result = demo.run(out=tmp_path / "figs", fast=True, file=out)
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == ["edge_detection.png", "edge_kernel_loss.png", "learned_kernels.png", "training_curve.png"]
    assert sorted(result["figures"]) == sorted(str(tmp_path / "figs" / n) for n in names)
    for name in names:
        data = (tmp_path / "figs" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_missing_dependency_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now fails
    assert main(["demo", "--fast", "--no-figures"]) == 1
    err = capsys.readouterr().err
    assert "scikit-learn" in err and 'pip install "cyconv[demo]"' in err
    with pytest.raises(demo.MissingDependency, match=r"needs scikit-learn"):
        demo.run(fast=True, figures=False, file=io.StringIO())


def test_missing_matplotlib_is_only_needed_for_figures(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(demo.MissingDependency, match="--no-figures"):
        demo._require(figures=True)
    try:
        demo._require(figures=False)
    except demo.MissingDependency as exc:  # sklearn/tqdm absent here: a different message
        assert "matplotlib" not in str(exc)


def test_unwritable_output_directory(tmp_path, capsys):
    _needs_demo_deps()
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert main(["demo", "--fast", "--out", str(blocker / "figs")]) == 1
    captured = capsys.readouterr()
    assert "cannot write the figures into" in captured.err
    assert "6.2.1" not in captured.out  # failed before doing any work


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "required: COMMAND"),
        (["demo", "--epochs", "0"], "expected an integer >= 1, got 0"),
        (["demo", "--epochs", "many"], "expected an integer, got 'many'"),
        (["demo", "--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_bad_command_lines(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "cyconv", "demo", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "--no-figures" in result.stdout and "--epochs N" in result.stdout


def test_progress_bar_is_off_when_stderr_is_not_a_terminal():
    _needs_demo_deps()
    result = subprocess.run([sys.executable, "-m", "cyconv", "demo", "--fast", "--no-figures"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\r" not in result.stdout
    assert "batch/s" not in result.stderr and "test accuracy" in result.stdout


def test_progress_bar_is_on_for_a_terminal(monkeypatch):
    _needs_demo_deps()

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    with demo._progress(10, "x") as bar:
        assert not bar.disable
        bar.update(10)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with demo._progress(10, "x") as bar:
        assert bar.disable


def test_resnet_architecture():
    model = demo.resnet(np.random.default_rng(0))
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"BatchNorm2d", "Residual", "AdaptiveAvgPool2d", "Conv2d", "Linear"} <= kinds
    assert model.output_shape((5, 1, 8, 8)) == (5, 10)
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32)
    assert model(x).shape == (4, 10) and model(x).dtype == np.float32
