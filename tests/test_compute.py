"""What the window computes, decided without Qt (app/compute.py): upscales to queue, scores to ask for, sides to show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app import compute, tasks
from app.session import INPUT, REFERENCE, Inputs, Output, ResultKey, Session, output_id
from engine.imageio import Picture
from engine.metrics import registry
from engine.upscaler import UpscalerInfo


def _picture(h: int, w: int, level: float = 0.5) -> Picture:
    return Picture(np.full((h, w, 3), level, np.float32), None, 8)


def _entry(session: Session, name: str, benchmark: bool = False):
    entry = session.add(Path(name))
    big = _picture(32, 32)
    entry.inputs = Inputs(big, lr=_picture(8, 8), reference=big) if benchmark else Inputs(_picture(8, 8))
    return entry


def _output(entry, precision: str, benchmark: bool = False) -> Output:
    key = ResultKey("tiny", precision, benchmark)
    info = UpscalerInfo("tiny", "Tiny", "rrdbnet", precision, 0, "cpu")
    entry.outputs[key] = out = Output(key, _picture(32, 32), 0.1, info)
    return out


def _asked(requests) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.name, r.want) for r in requests]


def test_each_source_is_asked_for_what_it_can_be_compared_with():
    entry = _entry(Session(), "a.png")
    _output(entry, "fp32")
    _output(entry, "int8")
    asked = _asked(compute.metric_requests(entry, False, compute_pi=True, input_view="bicubic"))
    assert asked == [
        ("out:tiny|int8", ("niqe", "pi", "psnr_fp32")),  # newest output first, and close to its fp32 twin
        ("out:tiny|fp32", ("niqe", "pi")),
        ("input:bicubic", ("niqe", "pi")),
    ]


def test_benchmark_mode_adds_the_ground_truth_metrics_but_not_for_the_original_itself():
    entry = _entry(Session(), "a.png", benchmark=True)
    _output(entry, "int8", benchmark=True)
    requests = compute.metric_requests(entry, True, compute_pi=False, input_view="nearest")
    assert _asked(requests) == [
        ("out:tiny|int8", ("niqe", "psnr", "ssim")),  # no fp32 twin: no fidelity to it; PI turned off
        ("input:nearest", ("niqe", "psnr", "ssim")),
        (REFERENCE, ("niqe",)),
    ]
    assert requests[0].reference is entry.inputs.reference.rgb and requests[1].enlarge == "nearest"


def test_scores_known_or_being_computed_are_not_asked_for_again():
    entry = _entry(Session(), "a.png")
    out = _output(entry, "fp32")
    entry.metrics[False][output_id(out.key)] = {"niqe": tasks.Score(3.0)}
    requests = compute.metric_requests(entry, False, compute_pi=True, input_view="bicubic",
                                       busy={"input:bicubic/niqe", "input:bicubic/pi"})
    assert _asked(requests) == [("out:tiny|fp32", ("pi",))]
    assert requests[0].known == {"niqe": tasks.Score(3.0)}  # PI is built on it


def test_nothing_is_asked_before_the_input_is_read():
    entry = Session().add(Path("a.png"))
    assert compute.metric_requests(entry, False, compute_pi=True, input_view="bicubic") == []


def test_an_output_is_compared_with_its_fp32_twin_when_there_is_one():
    entry = _entry(Session(), "a.png")
    int8 = _output(entry, "int8")
    assert compute.sides_after_upscale(entry, int8.key) == (INPUT, "out:tiny|int8")
    fp32 = _output(entry, "fp32")
    assert compute.sides_after_upscale(entry, int8.key) == ("out:tiny|fp32", "out:tiny|int8")
    assert compute.sides_after_upscale(entry, fp32.key) == (INPUT, "out:tiny|fp32")


def test_the_window_names_fp32_as_the_engine_keys_it():
    from app.session import FLOAT_PRECISION
    from engine.quant.precision import parse_precision

    assert parse_precision("FP32").key == parse_precision("32,32,32,32").key == FLOAT_PRECISION


def test_upscale_skips_images_done_queued_or_unreadable():
    session = Session()
    done, queued, broken, todo = (_entry(session, f"{n}.png") for n in "abcd")
    key = ResultKey("tiny", "int8")
    _output(done, "int8")
    broken.input_error = "d.png: not an image"
    assert compute.upscale_todo(session, key, {queued.id}) == [todo]


@pytest.fixture
def level_metric(monkeypatch):
    """A metric added through the engine's registry only, as a new metric would be."""
    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))
    return registry.register(registry.Metric("level", "Mean level", "%", True, None,
                                             lambda s: 100.0 * float(s.sr.mean()), 1,
                                             description="Mean pixel level"))


def test_a_metric_added_to_the_registry_reaches_the_app(level_metric):
    entry = _entry(Session(), "a.png")
    _output(entry, "fp32")
    requests = compute.metric_requests(entry, False, compute_pi=False, input_view="bicubic")
    assert all("level" in r.want for r in requests)
    assert "Mean level" in [m.label for m in compute.panel_metrics()]
    scores = tasks.metrics_job(requests[:1])(lambda p: None, None)
    assert scores["out:tiny|fp32"]["level"] == tasks.Score(pytest.approx(50.0))
    assert level_metric.text(50.0) == "50.0 %"


def test_a_metric_that_cannot_run_gives_its_reason_code():
    from engine.metrics import MetricUnavailable

    tiny = tasks.MetricRequest("out", np.full((8, 8, 3), 0.5, np.float32), want=("niqe",))
    score = tasks.metrics_job([tiny])(lambda p: None, None)["out"]["niqe"]
    assert score.value is None and score.code == MetricUnavailable.IMAGE_TOO_SMALL and "NIQE" in score.reason


def test_the_app_decides_without_qt_or_torch():
    """What the window computes is imported (and its metric labels read) before Qt or torch is loaded."""
    code = ("import sys, app.cli, app.imaging, app.jobs.qat, app.jobs.sweep; import app.compute as c; c.panel_metrics(); "
            "print(sorted(m for m in ('PySide6', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
