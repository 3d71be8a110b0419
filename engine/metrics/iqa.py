"""Image-quality metrics through pyiqa: PSNR-Y, SSIM-Y, NIQE, Ma (NRQM) and the Perceptual Index.

Conventions (PIRM 2018 and the usual SR protocol): metrics see the Y channel of BT.601 YCbCr
(MATLAB ``rgb2ycbcr``, range 16-235) after a ``crop``-pixel border is shaved off. PSNR uses the
unrounded Y (as BasicSR); SSIM, NIQE and Ma round Y to integers first (as MATLAB on uint8 images, and as
pyiqa does). Inputs are float RGB arrays HxWx3 in [0, 1].

pyiqa takes seconds to import, so it is imported on first use, and each metric object is built once per
device and reused. Nothing here downloads implicitly: NIQE reads the parameters bundled in
resources/niqe, and Ma reads NRQM_model.mat from pyiqa's cache folder only if it is already there.
:func:`fetch_metric_models` is the one explicit download.
"""

from __future__ import annotations

import math
import threading
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import files
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check

from .errors import ImageTooSmall, MetricModelMissing, MetricUnavailable

BORDER = 4
NIQE_PARAMS = Path(__file__).resolve().parents[2] / "resources" / "niqe" / "niqe_pris_params.mat"
MA_MODEL_FILE = "NRQM_model.mat"
# Below these sizes (after the border crop) pyiqa fails: NIQE needs one 96x96 block, NRQM's pyramid 45 px.
NIQE_MIN_SIDE = 96
MA_MIN_SIDE = 45


_LABELS = {"psnr": "PSNR", "ssim": "SSIM", "niqe": "NIQE", "ma": "Ma"}


def metric_cache_dir() -> Path:
    """pyiqa's download folder, ``torch.hub.get_dir()/pyiqa`` (follows TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "pyiqa"


def ma_model_path() -> Path:
    return metric_cache_dir() / MA_MODEL_FILE


def ma_missing_message() -> str | None:
    """The one line shown instead of PI/Ma when the Ma model is absent; ``None`` when it is present."""
    path = ma_model_path()
    if path.is_file():
        return None
    return (
        f"PI/Ma n/a: the Ma model {MA_MODEL_FILE} is not in {path.parent} "
        f"(run `mpsr models fetch-metrics` while online, or copy the file there)"
    )


def pi_from(ma: float, niqe: float) -> float:
    """Perceptual Index (PIRM 2018), lower is better."""
    return 0.5 * ((10.0 - ma) + niqe)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _crop(rgb: np.ndarray, crop: int) -> np.ndarray:
    return rgb[crop:-crop, crop:-crop] if crop > 0 else rgb


def _size_check(cropped: np.ndarray, minimum: int, what: str, crop: int) -> None:
    h, w = cropped.shape[:2]
    if min(h, w) < minimum:
        need = minimum + 2 * crop
        raise ImageTooSmall(
            f"{what} n/a: a {w + 2 * crop}x{h + 2 * crop} image is too small, it needs at least {need}x{need} pixels"
        )


class IQA:
    """pyiqa metric objects for one device, built on first use and reused (thread-safe creation)."""

    def __init__(self, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device or default_device())
        self._metrics: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _metric(self, name: str):
        key = name
        if name == "ma":
            # Checked on every call: the file may be fetched (or removed) while the app runs.
            if message := ma_missing_message():
                raise MetricModelMissing(message)
            key = f"ma:{ma_model_path()}"
        with self._lock:
            metric = self._metrics.get(key)
            if metric is None:
                metric = self._metrics[key] = self._create(name)
            return metric

    def _create(self, name: str):
        import pyiqa

        # Borders are cropped here before the call, so every metric object is built with crop 0 and
        # serves any crop; colour_space 'ycbcr' is MATLAB's rgb2ycbcr (pyiqa's default is YIQ).
        if name == "psnr":
            return pyiqa.create_metric("psnr", device=self.device, test_y_channel=True, color_space="ycbcr")
        if name == "ssim":
            return pyiqa.create_metric("ssim", device=self.device, test_y_channel=True, color_space="ycbcr")
        if name == "niqe":
            if not NIQE_PARAMS.is_file():
                raise MetricModelMissing("NIQE n/a: the bundled parameter file is missing", NIQE_PARAMS)
            return pyiqa.create_metric(
                "niqe", device=self.device, pretrained_model_path=str(NIQE_PARAMS), color_space="ycbcr"
            )
        if name == "ma":
            return pyiqa.create_metric(
                "nrqm", device=self.device, pretrained_model_path=str(ma_model_path()), color_space="ycbcr"
            )
        raise ValueError(f"unknown metric {name!r}")

    def _tensor(self, rgb: np.ndarray) -> torch.Tensor:
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
        arr = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None].to(self.device)

    def _score(self, name: str, *images: np.ndarray) -> float:
        metric = self._metric(name)
        try:
            with torch.inference_mode():
                value = float(metric(*(self._tensor(im) for im in images)).item())
        except torch.linalg.LinAlgError:
            value = math.nan  # NIQE's covariance of a featureless (flat) image
        if not math.isfinite(value):
            raise MetricUnavailable(f"{_LABELS[name]} n/a: undefined for this image (flat, without texture)",
                                    reason=MetricUnavailable.UNDEFINED)
        return value

    def _pair(self, a: np.ndarray, b: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
        if a.shape != b.shape:
            raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
        return _crop(a, crop), _crop(b, crop)

    def psnr_y(self, a: np.ndarray, b: np.ndarray, crop: int = BORDER) -> float:
        """PSNR in dB on Y (BT.601, unrounded), ``crop`` pixels shaved off each border."""
        return self._score("psnr", *self._pair(a, b, crop))

    def ssim_y(self, a: np.ndarray, b: np.ndarray, crop: int = BORDER) -> float:
        """SSIM (Gaussian 11x11, sigma 1.5) on rounded Y, ``crop`` pixels shaved off each border."""
        return self._score("ssim", *self._pair(a, b, crop))

    def niqe(self, rgb: np.ndarray, crop: int = BORDER) -> float:
        """NIQE on rounded Y with the bundled pristine parameters, lower is better."""
        rgb = _crop(rgb, crop)
        _size_check(rgb, NIQE_MIN_SIDE, "NIQE", crop)
        # An image of a single 96x96 block has a one-sample covariance: torch warns, the score is still defined.
        # A (de-duplicated) global filter, because catch_warnings() around the call would not be thread-safe.
        warnings.filterwarnings("ignore", message=r"cov\(\): degrees of freedom", category=UserWarning)
        return self._score("niqe", rgb)

    def ma(self, rgb: np.ndarray, crop: int = BORDER) -> float:
        """Ma et al.'s NRQM score (0-10, higher is better); ~15 s for 512x512 on 2 CPU cores.

        Raises :class:`MetricUnavailable` when the model file is missing (see :func:`ma_missing_message`).
        """
        rgb = _crop(rgb, crop)
        _size_check(rgb, MA_MIN_SIDE, "Ma", crop)
        return self._score("ma", rgb)

    def pi(self, rgb: np.ndarray, crop: int = BORDER) -> float:
        """Perceptual Index 0.5 * ((10 - Ma) + NIQE); raises :class:`MetricUnavailable` without the Ma model."""
        niqe = self.niqe(rgb, crop)  # first: it is cheap, and if it is undefined the slow Ma is not needed
        return pi_from(self.ma(rgb, crop), niqe)


def preload() -> None:
    """Import pyiqa now: seconds of Python import that would otherwise hold the interpreter on the first metric."""
    import pyiqa  # noqa: F401


_instances: dict[str, IQA] = {}
_instances_lock = threading.Lock()


def get_iqa(device: str | torch.device | None = None) -> IQA:
    """The shared :class:`IQA` for ``device`` (default: CUDA if present, else CPU)."""
    key = str(torch.device(device or default_device()))
    with _instances_lock:
        if key not in _instances:
            _instances[key] = IQA(key)
        return _instances[key]


def psnr_y(a: np.ndarray, b: np.ndarray, crop: int = BORDER) -> float:
    return get_iqa().psnr_y(a, b, crop)


def ssim_y(a: np.ndarray, b: np.ndarray, crop: int = BORDER) -> float:
    return get_iqa().ssim_y(a, b, crop)


def niqe(rgb: np.ndarray, crop: int = BORDER) -> float:
    return get_iqa().niqe(rgb, crop)


def ma(rgb: np.ndarray, crop: int = BORDER) -> float:
    return get_iqa().ma(rgb, crop)


def pi(rgb: np.ndarray, crop: int = BORDER) -> float:
    return get_iqa().pi(rgb, crop)


def _ma_model_url() -> str:
    from pyiqa.archs.nrqm_arch import default_model_urls

    return default_model_urls["url"]


def _validate_ma_model(path: Path) -> None:
    import scipy.io

    try:
        model = scipy.io.loadmat(str(path))["model"]
        model["linear"][0, 0], model["rf"][0, 0]
    except Exception as err:  # noqa: BLE001 - any parse failure means a bad download
        raise MPSRError(f"downloaded file is not a valid NRQM model ({err})", path) from None


def _download(url: str, f, timeout: float, progress: ProgressFn | None, cancel: CancelToken | None) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        tracker = ProgressTracker(progress, total or 1, f"downloading {MA_MODEL_FILE}")
        done = 0
        while chunk := response.read(1 << 16):
            check(cancel)
            f.write(chunk)
            done += len(chunk)
            tracker.update(min(done, total) if total else 0)


def fetch_metric_models(
    progress: ProgressFn | None = None, cancel: CancelToken | None = None, *, timeout: float = 30.0
) -> list[Path]:
    """Download the metric files that are missing (today: the Ma model) from pyiqa's source.

    Returns the files fetched (empty when nothing was missing). Raises :class:`MPSRError` when the
    download fails (offline, server error) or is not a valid model; a partial file never stays behind.
    """
    target = ma_model_path()
    if target.is_file():
        return []
    url = _ma_model_url()

    def fetch(tmp: Path) -> None:
        with tmp.open("wb") as f:
            try:
                _download(url, f, timeout, progress, cancel)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                raise MPSRError(
                    f"could not download {MA_MODEL_FILE} from {url} ({getattr(err, 'reason', err)}); are you offline? "
                    f"Copy the file into {target.parent} by hand instead"
                ) from None
        _validate_ma_model(tmp)

    files.write_atomic(target, fetch, what="the metric model")
    return [target]
