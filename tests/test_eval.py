"""Dataset evaluation: the protocol, resuming after a kill, the report, the CLI, and reference-free scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_metrics_iqa import FAKE_MA, write_fake_nrqm

from engine import archs
from engine.cli import main
from engine.errors import ModelError, MPSRError
from engine.jobs import Cancelled, CancelToken
from engine.metrics import MA_MODEL_FILE, get_iqa
from engine.metrics.core import score_pair
from engine.metrics.evaluate import (
    bicubic_baseline,
    evaluate,
    load_report,
    prepare_pair,
)
from engine.metrics.report import to_markdown
from engine.weights import load_model, save_model, sha256_file

skdata = pytest.importorskip("skimage.data")


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home / "hub" / "pyiqa"


@pytest.fixture
def model_file(tmp_path) -> Path:
    torch.manual_seed(0)
    net = archs.build("rrdbnet", num_feat=8, num_block=1, num_grow=4).eval()
    return save_model(net, tmp_path / "tiny.safetensors", {"name": "tiny", "display_name": "tiny RRDBNet"})


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Three small textured images; sizes not multiples of 4 so the HR crop matters."""
    folder = tmp_path / "Set3"
    folder.mkdir()
    Image.fromarray(skdata.astronaut()[100:222, 150:273]).save(folder / "a.png")
    Image.fromarray(skdata.coffee()[50:163, 200:310]).save(folder / "b.png")
    Image.fromarray(skdata.chelsea()[40:150, 100:230]).save(folder / "c.png")
    return folder


def test_protocol_crops_hr_to_a_multiple_of_4_and_makes_8bit_lr():
    rgb = skdata.astronaut()[:123, :130].astype(np.float32) / 255
    hr, lr = prepare_pair(rgb, scale=4)
    assert hr.shape == (120, 128, 3) and lr.shape == (30, 32, 3)
    assert np.array_equal(hr, rgb[:120, :128])
    assert np.array_equal(np.round(lr * 255), lr * 255) and np.array_equal(np.round(hr * 255), hr * 255)
    flat = np.full((40, 44, 3), 100 / 255, np.float32)
    _, flat_lr = prepare_pair(flat, scale=4)
    assert np.allclose(flat_lr, 100 / 255) and np.allclose(bicubic_baseline(flat_lr, scale=4), 100 / 255)
    assert bicubic_baseline(lr, scale=4).shape == hr.shape
    # Antialiased /4 (a 16-tap cubic) turns a checkerboard of 4x4 black/white squares into 75/180 grey levels
    # (BasicSR's imresize gives the same); plain bicubic sampling would keep 0/255.
    board = np.kron((np.indices((16, 16)).sum(0) % 2)[..., None] * np.ones(3), np.ones((4, 4, 1))).astype(np.float32)
    board_lr = prepare_pair(board, scale=4)[1][2:-2, 2:-2]
    assert set(np.unique(np.round(board_lr * 255))) == {75.0, 180.0}


def _progress_canceller(token: CancelToken, after_rows: int, seen: list):
    def report(p):
        seen.append(p)
        if p.done >= after_rows:
            token.cancel()

    return report


def test_a_killed_run_resumes_and_skips_finished_rows(tmp_path, dataset, model_file, torch_home):
    out = tmp_path / "report.json"
    token, seen = CancelToken(), []
    with pytest.raises(Cancelled):
        evaluate(dataset, str(model_file), ["fp32"], out=out, tile=16, metrics=("psnr", "ssim", "niqe"),
                 progress=_progress_canceller(token, 2, seen), cancel=token)
    first = json.loads(out.read_text())
    assert first["complete"] is False and len(first["rows"]) == 2
    assert seen[0].total == 6  # 3 images x (bicubic, fp32)

    seen = []
    report = evaluate(dataset, str(model_file), ["fp32"], out=out, tile=16, metrics=("psnr", "ssim", "niqe"),
                      progress=seen.append)
    assert seen[0].total == 4  # the two finished rows are not redone
    assert report.complete and len(report.rows) == 6
    assert report.rows[:2] == first["rows"]  # kept as they were (times included)
    saved = load_report(out)
    assert saved.complete and saved.rows == report.rows
    assert {(r["method"], r["image"]) for r in report.rows} == {(m, f"{i}.png") for m in ("bicubic", "fp32") for i in "abc"}
    for row in report.rows:
        w, h = row["size"]
        assert w % 4 == 0 and h % 4 == 0 and row["seconds"] >= 0
        assert 5 < row["psnr_y"] < 60 and -1 < row["ssim_y"] <= 1
    # A finished report is just re-rendered.
    seen = []
    again = evaluate(dataset, str(model_file), ["fp32"], out=out, tile=16, metrics=("psnr", "ssim", "niqe"),
                     progress=seen.append)
    assert again.rows == report.rows and all(p.total == 0 for p in seen)


def test_report_summary_and_markdown(tmp_path, dataset, model_file, torch_home):
    out = tmp_path / "r.json"
    report = evaluate(dataset, str(model_file), ["fp32"], out=out, tile=0)
    summary = {e["method"]: e for e in report.summary()}
    bic_rows = [r for r in report.rows if r["method"] == "bicubic"]
    assert summary["bicubic"]["psnr_y"] == pytest.approx(np.mean([r["psnr_y"] for r in bic_rows]))
    assert summary["bicubic"]["seconds_total"] == pytest.approx(sum(r["seconds"] for r in bic_rows))
    assert summary["bicubic"]["size_bytes"] is None
    assert summary["fp32"]["size_bytes"] == model_file.stat().st_size and summary["fp32"]["size_ratio"] == 1.0
    # Bicubic on textured natural images is far better than an untrained generator.
    assert summary["bicubic"]["psnr_y"] > summary["fp32"]["psnr_y"] + 5
    # No Ma model here: PI is n/a with the one-line reason, NIQE is still there for bicubic.
    assert all(r["pi"] is None and r["ma"] is None for r in report.rows)
    assert all(r["niqe"] is not None for r in bic_rows)
    assert len(report.notes) == 1 and MA_MODEL_FILE in report.notes[0] and str(torch_home) in report.notes[0]
    md = to_markdown(report)
    assert "| bicubic | - | - |" in md and "| fp32 |" in md and "n/a" in md and report.notes[0] in md
    assert "tiny RRDBNet (rrdbnet) on Set3" in md and "Per image:" in md


def test_pi_is_filled_in_once_the_ma_model_is_present(tmp_path, dataset, model_file, torch_home):
    out = tmp_path / "r.json"
    metrics = ("psnr", "pi")
    report = evaluate(dataset, str(model_file), ["fp32"], out=out, tile=0, metrics=metrics)
    assert all(r["pi"] is None for r in report.rows)
    write_fake_nrqm(torch_home / MA_MODEL_FILE)
    seen = []
    report = evaluate(dataset, str(model_file), ["fp32"], out=out, tile=0, metrics=metrics, progress=seen.append)
    assert seen[0].total == 6 and not report.notes
    bic = [r for r in report.rows if r["method"] == "bicubic"]
    assert all(r["ma"] == pytest.approx(FAKE_MA) for r in bic)
    assert all(r["pi"] == pytest.approx(0.5 * (10 - FAKE_MA + r_niqe)) for r, r_niqe in
               zip(bic, [_niqe_of(r, report) for r in bic]))


def _niqe_of(row, report):
    # PI was computed from NIQE, which this run did not ask for: invert PI = 0.5 * ((10 - Ma) + NIQE).
    niqe = 2 * row["pi"] - (10 - row["ma"])
    assert 0 < niqe < 100
    return niqe


def test_other_runs_and_missing_models_are_refused_before_any_work(tmp_path, dataset, model_file, torch_home):
    out = tmp_path / "r.json"
    evaluate(dataset, str(model_file), ["fp32"], out=out, tile=0, metrics=("psnr",))
    with pytest.raises(MPSRError, match=r"another run \(different tile 0 -> 8\)"):
        evaluate(dataset, str(model_file), ["fp32"], out=out, tile=8, metrics=("psnr",))
    missing = tmp_path / "none.json"
    with pytest.raises(ModelError):
        evaluate(dataset, str(tmp_path / "srgan_not_trained.safetensors"), ["fp32"], out=missing)
    with pytest.raises(MPSRError, match="unknown metric"):
        evaluate(dataset, str(model_file), ["fp32"], out=missing, metrics=("lpips",))
    assert not missing.exists()


def test_cli_prints_the_table_and_writes_json_and_markdown(tmp_path, dataset, model_file, torch_home, capsys):
    out = tmp_path / "set3.json"
    code = main(["eval", str(dataset), "--model", str(model_file), "--precision", "fp32", "--out", str(out),
                 "--tile", "0", "--metrics", "psnr,ssim"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| method |" in printed and "| bicubic |" in printed and "| fp32 |" in printed
    assert json.loads(out.read_text())["complete"] is True
    assert out.with_suffix(".md").read_text().splitlines()[1].startswith("### tiny RRDBNet")
    code = main(["eval", str(dataset), "--model", str(tmp_path / "absent.safetensors"), "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert code == 1 and "absent.safetensors" in err and len(err.strip().splitlines()) == 1


def test_reference_free_scores_and_fidelity_to_fp32(torch_home):
    """The scoring core without ground truth (the app's photos): no-reference metrics and fidelity to fp32."""
    fp32 = skdata.chelsea()[:120, :128].astype(np.float32) / 255
    noisy = np.clip(fp32 + np.random.default_rng(0).normal(0, 0.02, fp32.shape), 0, 1).astype(np.float32)
    iqa = get_iqa()
    seen = []
    scores = {"fp32": score_pair(["niqe", "pi"], fp32, None, fp32, iqa, step=lambda i, m: seen.append(m), scale=4),
              "int8": score_pair(["niqe", "pi", "psnr_fp32"], noisy, None, fp32, iqa,
                                 step=lambda i, m: seen.append(m), scale=4)}
    assert "psnr_fp32" not in scores["fp32"]
    assert scores["int8"]["psnr_fp32"] == pytest.approx(iqa.psnr_y(noisy, fp32))
    assert 30 < scores["int8"]["psnr_fp32"] < 40
    assert scores["fp32"]["niqe"] == pytest.approx(iqa.niqe(fp32))
    assert scores["int8"]["pi"] is None and MA_MODEL_FILE in scores["int8"]["unavailable"]["pi"]
    assert len(seen) == 5
    write_fake_nrqm(torch_home / MA_MODEL_FILE)
    scores = score_pair(["niqe", "pi"], fp32, None, None, iqa, scale=4)
    assert scores["ma"] == pytest.approx(FAKE_MA) and "unavailable" not in scores
    with pytest.raises(ValueError, match="differ in size"):
        score_pair(["psnr_fp32"], fp32[:100], None, fp32, iqa, scale=4)


def test_other_precisions_are_compared_with_the_fp32_output(tmp_path, dataset, model_file, torch_home, monkeypatch):
    """A stand-in for a quantized precision (the fp32 net plus 2/255) added to a finished fp32 report."""
    from dataclasses import replace

    import engine.upscaler as upscaler_mod

    real_make = upscaler_mod.make_upscaler

    class Shifted(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x) + 2 / 255

    SHIFTED = "16,16,16,16"  # a plan name the stand-in below answers for

    def make(model, precision="fp32", **kw):
        up = real_make(model, "fp32", **kw)
        if str(precision) != SHIFTED:
            return up
        info = replace(up.info, precision=SHIFTED, size_bytes=up.info.size_bytes // 4)
        return upscaler_mod.Upscaler(Shifted(up.module), info=info, tile=up.tile, overlap=up.overlap)

    monkeypatch.setattr(upscaler_mod, "make_upscaler", make)
    torch.manual_seed(0)
    net = archs.build("rrdbnet", num_feat=8, num_block=1, num_grow=4).eval()
    with torch.no_grad():
        net.reconstruction.conv_last.bias += 0.5  # outputs near mid-grey: the shift is never clipped
    model_file = save_model(net, tmp_path / "grey.safetensors", {"name": "grey"})
    out = tmp_path / "r.json"
    evaluate(dataset, str(model_file), ["fp32"], out=out, tile=0, metrics=("psnr",))
    seen = []
    report = evaluate(dataset, str(model_file), [SHIFTED], out=out, tile=0, metrics=("psnr",), progress=seen.append)
    assert seen[0].total == 3 and report.config["precisions"] == ["fp32", SHIFTED]
    shifted = [r for r in report.rows if r["method"] == SHIFTED]
    # +2 levels on R, G and B move Y by 2 * 219/255 levels.
    assert all(r["psnr_fp32"] == pytest.approx(20 * np.log10(255 / (2 * 219 / 255)), abs=0.05) for r in shifted)
    assert all("psnr_fp32" not in r for r in report.rows if r["method"] != SHIFTED)
    summary = {e["method"]: e for e in report.summary()}
    assert summary[SHIFTED]["size_ratio"] == pytest.approx(0.25, abs=1e-3)
    assert "PSNR to fp32 (dB)" in to_markdown(report)


def test_a_precision_file_that_changed_is_scored_again(tmp_path, dataset, model_file, torch_home):
    """Rows are keyed by method name; a quantized artifact rewritten under the same path must not keep old rows."""
    from engine.quant import CalibrationSpec, quantize, save_artifact

    net = load_model(model_file)[0]
    artifact = tmp_path / "q.safetensors"
    calib = CalibrationSpec(count=2, patch=16)
    save_artifact(quantize(net, "int8", calib=calib), artifact)
    out = tmp_path / "r.json"
    first = evaluate(dataset, str(model_file), ["fp32", str(artifact)], out=out, tile=0, metrics=("psnr",))
    seen = []
    same = evaluate(dataset, str(model_file), ["fp32", str(artifact)], out=out, tile=0, metrics=("psnr",),
                    progress=seen.append)
    assert same.rows == first.rows and all(p.total == 0 for p in seen)  # same file: nothing to redo
    save_artifact(quantize(net, "mixed", calib=calib), artifact)
    seen = []
    again = evaluate(dataset, str(model_file), ["fp32", str(artifact)], out=out, tile=0, metrics=("psnr",),
                     progress=seen.append)
    assert seen[0].total == 3  # its three rows again; bicubic and fp32 are kept
    assert len(again.rows) == 9 and again.models[str(artifact)]["sha256"] == sha256_file(artifact)
    old_rows = [r for r in first.rows if r["method"] == str(artifact)]
    assert not any(r in again.rows for r in old_rows)  # every row of the old file was scored again
    assert load_report(out).models[str(artifact)]["sha256"] == sha256_file(artifact)


def test_a_metric_added_to_the_registry_shows_up_in_the_report(tmp_path, dataset, model_file, torch_home,
                                                                monkeypatch, capsys):
    """Adding a metric is one register() call: evaluate, the summary, the table and the CLI take it from there."""
    from engine.metrics import registry

    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))
    registry.register(registry.Metric("level", "Mean level", "%", True, None,
                                      lambda s: 100 * float(s.sr.mean()), digits=1))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.Metric("level", "Again", "", True, None, lambda s: 0.0))
    out = tmp_path / "r.json"
    report = evaluate(dataset, str(model_file), ["fp32"], out=out, tile=0, metrics=("psnr", "level"))
    assert report.config["metrics"] == ["psnr", "level"]
    assert all(0 < r["level"] < 100 for r in report.rows)
    summary = {e["method"]: e for e in report.summary()}
    fp32_rows = [r for r in report.rows if r["method"] == "fp32"]
    assert summary["fp32"]["level"] == pytest.approx(np.mean([r["level"] for r in fp32_rows]))
    md = to_markdown(report)
    assert "| Mean level (%) |" in md and "NIQE" not in md
    assert main(["eval", str(dataset), "--model", str(model_file), "--metrics", "level", "--tile", "0",
                 "--out", str(tmp_path / "cli.json")]) == 0
    assert "Mean level (%)" in capsys.readouterr().out


def test_a_metric_that_cannot_run_says_why_with_a_reason_code():
    from engine.metrics import MetricUnavailable

    iqa = get_iqa()
    tiny = np.full((40, 40, 3), 0.5, np.float32)
    with pytest.raises(MetricUnavailable) as err:
        iqa.niqe(tiny)
    assert err.value.reason == MetricUnavailable.IMAGE_TOO_SMALL and "too small" in str(err.value)
    scores = score_pair(["niqe"], tiny, None, None, iqa, scale=4)
    assert scores["niqe"] is None and "too small" in scores["unavailable"]["niqe"]
