"""Sensitivity sweeps on a tiny generator: rows and schema, resume, cancel, recommendation, report, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from engine import archs
from engine.cli import main
from engine.errors import MPSRError
from engine.jobs import Cancelled, CancelToken
from engine.quant import CalibrationSpec, parse_plan
from engine.sweep import (
    Budget,
    block_units,
    keep16,
    load_sweep,
    open_run,
    plans_for,
    recommend_stage,
    run_sweep,
    runner,
    stage_grid,
    stage_subsets,
)
from engine.sweep.plans import FP32, INT8, MIXED, protected_units, unit_of
from engine.sweep.recommend import Additive, best_measured_block, block_candidates
from engine.sweep.store import IMAGE_KEYS, ROW_KEYS

REPO = Path(__file__).resolve().parents[1]
CALIB = CalibrationSpec(None, count=2, patch=16)  # bundled samples, few and small: the tests are about the sweep


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """No Ma model (PI must be null with a reason, and NRQM would take ~15 s per image)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        yield


@pytest.fixture(scope="module")
def stages_sweep(isolated, tmp_path_factory, tiny_rrdb_file, hr_dir) -> Path:
    out = tmp_path_factory.mktemp("stages")
    return run_sweep(tiny_rrdb_file, "ptq", hr_dir, None, out, calib=CALIB)


def test_plan_spaces():
    subsets = stage_subsets()
    assert len(subsets) == len(set(subsets)) == 15 and FP32 not in subsets and INT8 in subsets
    assert subsets[:4] == ["8,32,32,32", "32,8,32,32", "32,32,8,32", "32,32,32,8"]
    grid = stage_grid()
    assert len(set(grid)) == 81 and set(subsets) < set(grid) and MIXED in grid
    rrdb = archs.build("rrdbnet", num_feat=8, num_block=3, num_grow=4)
    assert block_units(rrdb) == ["feature_extraction", "body.blocks.0", "body.blocks.1", "body.blocks.2", "body.conv",
                                 "upsampling.0", "upsampling.1", "reconstruction"]
    srres = archs.build("srresnet", num_feat=8, num_block=2)
    assert "body.bn" not in block_units(srres) and "body.blocks.1" in block_units(srres)
    plan = keep16(["body.blocks.1", "reconstruction"])
    assert plan == "8,8,8,16;body.blocks.1=16" and parse_plan(plan).precision_of("body.blocks.1.rdb2") == "int16"
    assert unit_of(keep16(["body.blocks.1"])) == "body.blocks.1" and unit_of(plan) is None and unit_of(MIXED) is None
    assert len(plans_for("blocks", rrdb)) == 1 + 1 + 8 + 1


def test_stage_sweep_writes_15_plus_reference_rows_with_the_schema(stages_sweep, tiny_rrdb_file, hr_dir):
    data = json.loads(stages_sweep.read_text())
    assert data["format"] == "mpsr-sweep" and data["version"] == 1 and data["complete"] is True
    rows = {r["plan"]: r for r in data["rows"]}
    assert set(rows) == {FP32, MIXED, *stage_subsets()} and len(data["rows"]) == 17
    for row in data["rows"]:
        assert tuple(row) == ROW_KEYS
        assert row["measured"] is True and row["kind"] == "measured" and row["method"] == "ptq"
        assert [im["image"] for im in row["images"]] == ["astronaut.png", "chelsea.png", "coffee.png"]
        assert all(tuple(im) == IMAGE_KEYS for im in row["images"])
        assert row["latency_s"] > 0 and row["size_bytes"] > 0 and 0 < row["ssim_y"] <= 1 and row["niqe"] > 0
        assert row["pi"] is None and "Ma model" in row["unavailable"]["pi"]
        assert row["psnr_y"] == pytest.approx(sum(im["psnr_y"] for im in row["images"]) / 3)
    assert rows[FP32]["psnr_fp32"] is None
    assert all(math.isfinite(r["psnr_fp32"]) for p, r in rows.items() if p != FP32)
    # fp32 size is the float weights as safetensors: exactly the model file saved the same way.
    assert rows[FP32]["size_bytes"] == tiny_rrdb_file.stat().st_size
    assert rows[INT8]["size_bytes"] < rows["8,8,32,32"]["size_bytes"] < rows[FP32]["size_bytes"]
    assert data["config"]["images"] == sorted(p.name for p in hr_dir.iterdir())
    assert (stages_sweep.parent / ".cache" / "fp32").is_dir()


def test_report_files(stages_sweep):
    sweep = load_sweep(stages_sweep.parent)
    assert sweep.files == {"markdown": "sweep.md",
                           "plots": {"stages": "sensitivity_stages.png", "pareto": "pareto.png"}}
    md = (stages_sweep.parent / "sweep.md").read_text()
    assert "the paper's Figure 7" in md and "| 1,2,4 | `8,8,32,8` |" in md and "| none (fp32) |" in md
    assert "PI/Ma n/a" in md and "Stage grid" not in md
    for name in sweep.files["plots"].values():
        with Image.open(stages_sweep.parent / name) as im:
            assert im.format == "PNG" and im.width > 300


def _cancel_after(token: CancelToken, rows: int, seen: list):
    def report(p):
        seen.append(p)
        if p.done >= rows:
            token.cancel()

    return report


def test_cancel_keeps_a_valid_partial_file_and_resume_measures_only_the_rest(isolated, tmp_path, tiny_rrdb_file, hr_dir,
                                                                            monkeypatch):
    out = tmp_path / "sweep"
    token, seen = CancelToken(), []
    with pytest.raises(Cancelled):
        run_sweep(tiny_rrdb_file, "ptq", hr_dir, None, out, _cancel_after(token, 5, seen), token, calib=CALIB)
    partial = load_sweep(out)
    assert not partial.complete and len(partial.rows) == 5 and partial.rows[0]["plan"] == FP32
    assert not (out / "sweep.md").exists()
    assert seen[-1].total == 17 and seen[-1].eta_s is not None
    # What the app shows before a rerun comes from the rule the rerun follows.
    start = open_run(tiny_rrdb_file, "ptq", hr_dir, None, out, calib=CALIB)
    assert start.todo == [p for p in start.plans if p not in {r["plan"] for r in partial.rows}]

    measured = []
    real = runner.measure_row

    def counting(job, plan, report=None, cancel=None):
        measured.append(plan)
        return real(job, plan, report, cancel)

    monkeypatch.setattr(runner, "measure_row", counting)
    seen.clear()
    run_sweep(tiny_rrdb_file, "ptq", hr_dir, None, out, seen.append, calib=CALIB)
    done = load_sweep(out)
    assert done.complete and len(done.rows) == 17
    assert sorted(measured) == sorted(set(plans_for("stages", archs.build("rrdbnet"))) - {r["plan"] for r in partial.rows})
    assert done.rows[:5] == partial.rows  # untouched, timestamps included
    assert seen[0].total == 12 and sorted(measured) == sorted(start.todo)

    # A folder holding another run is refused, not mixed, before anything is measured or trained.
    for method, steps, kwargs, differs in (("ptq", None, {"metrics": ["psnr"]}, "metrics"),
                                           ("qat", 2, {}, "method, steps")):
        with pytest.raises(MPSRError, match=f"another run .*{differs}"):
            open_run(tiny_rrdb_file, method, hr_dir, steps, out, calib=CALIB, **kwargs)
        with pytest.raises(MPSRError, match=f"another run .*{differs}"):
            run_sweep(tiny_rrdb_file, method, hr_dir, steps, out, calib=CALIB, **kwargs)
    assert load_sweep(out).rows == done.rows


def test_cancel_inside_a_row(isolated, tmp_path, tiny_rrdb_file, hr_dir):
    out = tmp_path / "sweep"
    token = CancelToken()

    def report(p):
        if "chelsea" in p.message and p.done > 2:  # the third row, between its images
            token.cancel()

    with pytest.raises(Cancelled):
        run_sweep(tiny_rrdb_file, "ptq", hr_dir, None, out, report, token, calib=CALIB)
    assert [r["plan"] for r in load_sweep(out).rows] == [FP32, *stage_subsets()[:1]]


# -- the recommender on crafted tables ---------------------------------------------------------------

def _row(plan: str, psnr: float, mb: float, seconds: float, fidelity: float | None = 40.0) -> dict:
    return {"plan": plan, "key": plan, "kind": "measured", "psnr_y": psnr, "psnr_fp32": fidelity,
            "size_bytes": int(mb * 1e6), "latency_s": seconds}


TABLE = [
    _row(FP32, 30.00, 100, 1.00, None),
    _row(INT8, 29.80, 25, 0.25),
    _row("16,8,8,16", 29.97, 30, 0.40),
    _row("8,8,8,16", 29.96, 28, 0.35),
    _row("8,8,16,8", 29.90, 26, 0.30),
    _row("8,8,8,8;body.blocks.0=16", 29.99, 25.5, 0.26),  # a per-block row: not part of the stage search
]


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({"max_quality_loss": 0.05}, "8,8,8,16"),  # fastest plan losing <= 0.05 dB
        ({"max_quality_loss": 0.5}, INT8),
        ({"max_size_mb": 27}, "8,8,16,8"),  # best quality that fits 27 MB
        ({"max_latency_s": 0.45}, "16,8,8,16"),
        ({"max_latency_s": 0.31, "max_quality_loss": 0.15}, "8,8,16,8"),
        ({"max_quality_loss": 0.0}, FP32),
    ],
)
def test_stage_recommender_picks_the_cheapest_plan_meeting_the_budget(budget, expected):
    chosen = recommend_stage(TABLE, TABLE[0], Budget.from_any(budget))
    assert chosen["plan"] == expected and chosen["searched"] == 5 and chosen["kind"] == "measured"


def test_stage_recommender_without_a_feasible_plan_says_what_comes_closest():
    with pytest.raises(MPSRError, match=r"none of the 5 measured stage plans meets the budget \(quality loss <= "
                                        r"0.01 dB PSNR-Y, size <= 20 MB\); closest: loss 0.000 dB \(32,32,32,32\)"):
        recommend_stage(TABLE, TABLE[0], Budget(max_size_mb=20, max_quality_loss=0.01))


def test_a_measured_per_block_row_that_meets_the_budget_is_found():
    """E.g. one probe alone meeting a quality budget: measured, so it competes with the greedy estimate's plan."""
    row = best_measured_block(TABLE, TABLE[0], Budget(max_quality_loss=0.05))
    assert row["plan"] == "8,8,8,8;body.blocks.0=16"
    assert best_measured_block(TABLE, TABLE[0], Budget(max_quality_loss=0.005)) is None
    assert protected_units("16,8,8,8;body.blocks.22=16;upsampling.0=16") == [
        "feature_extraction", "body.blocks.22", "upsampling.0"]


@pytest.mark.parametrize("bad", [{}, {"max_size_mb": -1}, {"max_latency_s": 0}, {"max_gpus": 1}])
def test_bad_budgets_are_one_line_errors(bad):
    with pytest.raises(MPSRError):
        Budget.from_any(bad)


def _probe(plan: str, psnr: list[float], fidelity: list[float], mb: float, seconds: float) -> dict:
    images = [{"image": f"{i}.png", "psnr_y": p, "psnr_fp32": f} for i, (p, f) in enumerate(zip(psnr, fidelity))]
    return {"plan": plan, "key": plan, "kind": "measured", "images": images, "psnr_y": sum(psnr) / 2,
            "psnr_fp32": sum(fidelity) / 2, "size_bytes": int(mb * 1e6), "latency_s": seconds}


def _power(db):
    return 10 ** (-db / 10)


def test_block_estimates_and_greedy_choice():
    ref = _probe(FP32, [30.0, 28.0], [80.0, 80.0], 100, 1.0)
    base = _probe(INT8, [29.7, 27.8], [35.0, 36.0], 25, 0.25)
    probes = {
        "body.blocks.0": _probe(keep16(["body.blocks.0"]), [29.85, 27.9], [38.0, 39.0], 25.5, 0.27),  # big gain, cheap
        "body.blocks.1": _probe(keep16(["body.blocks.1"]), [29.72, 27.81], [35.2, 36.1], 25.5, 0.27),  # small gain
        "reconstruction": _probe(keep16(["reconstruction"]), [29.9, 27.95], [39.0, 40.0], 25.1, 0.40),  # big, slow
    }
    model = Additive(ref, base, probes)
    est = model.estimate(["body.blocks.0", "reconstruction"])
    # Fidelity gains add in dB per image: (35 + 3 + 4, 36 + 3 + 4).
    assert est["psnr_fp32"] == pytest.approx(42.5)
    # The all-int8 plan's extra HR error over fp32 shrinks to the remaining noise fraction, 10**-0.7.
    expected = [-10 * math.log10(_power(r) + (_power(b) - _power(r)) * 10 ** -0.7) for r, b in ((30.0, 29.7), (28.0, 27.8))]
    assert est["psnr_y"] == pytest.approx(sum(expected) / 2)
    assert est["quality_loss"] == pytest.approx(29.0 - est["psnr_y"])
    assert est["latency_s"] == pytest.approx(0.25 + 0.02 + 0.15) and est["size_bytes"] == 25_600_000
    assert model.estimate([])["psnr_y"] == pytest.approx(base["psnr_y"])

    # Gain per second: blocks.0 150 dB/s, reconstruction 27, blocks.1 7.5.
    path = model.greedy_path("latency_s")
    assert [units for units, _ in path] == [[], ["body.blocks.0"], ["body.blocks.0", "reconstruction"],
                                            ["body.blocks.0", "reconstruction", "body.blocks.1"]]
    fast = block_candidates(model, Budget(max_quality_loss=0.2))
    assert fast[0][0] == ["body.blocks.0"] and fast[0][1] == "8,8,8,8;body.blocks.0=16"
    assert [units for units, _, _ in fast][1:] == [p for p, _ in path[2:]]  # fallbacks if the measurement misses
    assert block_candidates(model, Budget(max_quality_loss=0.05))[0][0] == path[3][0]
    # Best quality within 0.3 s: reconstruction does not fit, so the cheap small gain is taken instead.
    assert block_candidates(model, Budget(max_latency_s=0.3))[0][0] == ["body.blocks.0", "body.blocks.1"]
    with pytest.raises(MPSRError, match="no per-block plan meets the budget .* still quality loss"):
        block_candidates(model, Budget(max_quality_loss=0.01))
    with pytest.raises(MPSRError, match="no per-block plan meets the budget .* size"):
        block_candidates(model, Budget(max_size_mb=20))


def test_block_sweep_measures_the_estimated_plan(isolated, tmp_path, tiny_rrdb_file, hr_dir):
    path = run_sweep(tiny_rrdb_file, "ptq", hr_dir, None, tmp_path / "blocks", space="blocks", calib=CALIB,
                     recommend={"max_size_mb": 10})
    sweep = load_sweep(path)
    block = sweep.recommendations["block"]
    assert block["kind"] == "estimated_then_measured" and len(block["units"]) >= 2
    row = sweep.row(block["plan"])
    assert row["kind"] == "estimated_then_measured" and row["measured"] is True
    assert row["estimate"] == block["estimate"] and block["measured"]["latency_s"] == row["latency_s"]
    probes = [r for r in sweep.rows if unit_of(r["plan"])]
    assert len(probes) == len(block_units(archs.build("rrdbnet", num_feat=8, num_block=2, num_grow=4)))
    assert set(sweep.recommendations["presets"]) == {"fp32", "int8", "mixed"}
    assert "plan" in sweep.recommendations["stage"]
    md = (path.parent / "sweep.md").read_text()
    assert "Per-block sensitivity" in md and "per-block estimate" in md and "paper's hand-picked plan" in md
    assert (path.parent / "sensitivity_blocks.png").is_file()


def test_parallel_workers_give_the_serial_results(isolated, tmp_path, stages_sweep, tiny_rrdb_file, hr_dir):
    path = run_sweep(tiny_rrdb_file, "ptq", hr_dir, None, tmp_path / "par", calib=CALIB, workers=2)
    serial = {r["plan"]: r for r in load_sweep(stages_sweep).rows}
    parallel = load_sweep(path)
    assert parallel.config["runs"][-1]["workers"] == 2 and len(parallel.rows) == 17
    for row in parallel.rows:
        for key in ("psnr_y", "ssim_y", "niqe", "psnr_fp32", "size_bytes"):
            assert row[key] == pytest.approx(serial[row["plan"]][key], abs=1e-6)


def test_calibrating_on_the_evaluation_set_is_refused(isolated, tmp_path, tiny_rrdb_file, hr_dir):
    with pytest.raises(MPSRError, match="also in the evaluation set"):
        run_sweep(tiny_rrdb_file, "ptq", hr_dir, None, tmp_path / "x", calib=hr_dir)


def test_qat_sweep_trains_each_plan(isolated, tmp_path, stages_sweep, tiny_rrdb_file, hr_dir):
    with pytest.raises(MPSRError, match="steps >= 1"):
        run_sweep(tiny_rrdb_file, "qat", hr_dir, 0, tmp_path / "qat")
    path = run_sweep(tiny_rrdb_file, "qat", hr_dir, 1, tmp_path / "qat", space="blocks", calib=CALIB)
    sweep = load_sweep(path)
    assert sweep.config["calibration"]["used_for"] == "QAT training data and fixed activation ranges"
    assert sweep.config["qat_ranges"] == "fixed"
    rows = {r["plan"]: r for r in sweep.rows}
    assert len(rows) == 10 and all(r["method"] == "qat" and r["steps"] == 1 for r in rows.values())
    # One training step moves the weights: QAT int8 is not the PTQ int8 of the same plan.
    assert load_sweep(stages_sweep).row(INT8)["psnr_fp32"] != pytest.approx(rows[INT8]["psnr_fp32"], abs=1e-3)


def test_cli_end_to_end(isolated, tmp_path, tiny_rrdb_file, hr_dir, capsys):
    out = tmp_path / "cli"
    code = main(["sweep", "--model", str(tiny_rrdb_file), "--method", "ptq", "--data", str(hr_dir), "--out", str(out),
                 "--recommend", "--max-quality-loss", "0.05", "--metrics", "psnr,ssim"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "recommended stage plan:" in captured.out and "paper's mixed plan: 16,8,8,16" in captured.out
    assert "17 plans measured" in captured.err and (out / "sweep.md").is_file() and (out / "pareto.png").is_file()
    assert load_sweep(out).config["metrics"] == ["psnr", "ssim"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recommend"], "--recommend needs"),
        (["--max-size-mb", "3"], "need --recommend"),
        (["--space", "stages", "--workers", "0"], "workers must be"),
        (["--method", "qat"], "QAT sweeps need"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, tiny_rrdb_file, hr_dir, capsys, args, message):
    code = main(["sweep", "--model", str(tiny_rrdb_file), "--data", str(hr_dir), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("mpsr: error:") and message in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_cli_bad_data_folder(tmp_path, tiny_rrdb_file, capsys):
    code = main(["sweep", "--model", str(tiny_rrdb_file), "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "missing" in err and "no such file" in err
