"""Convert BasicSR's NIQE pristine parameters into the .mat file pyiqa's NIQE loads.

The parameters (Mittal et al.'s multivariate Gaussian fitted on pristine images) are the ones
MATLAB's niqe_release ships; BasicSR 1.4.2 (Apache-2.0) bundles them as an .npz. pyiqa would download
its own copy from Hugging Face, which is not reachable offline, so we convert BasicSR's copy once and
commit the small result under resources/niqe/.

    pip download --no-deps --no-build-isolation basicsr==1.4.2 -d /tmp/x
    python tools/convert_niqe_params.py /tmp/x/basicsr-1.4.2.tar.gz resources/niqe/niqe_pris_params.mat
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import scipy.io

MEMBER = "basicsr/metrics/niqe_pris_params.npz"


def read_npz(sdist: Path) -> dict[str, np.ndarray]:
    """The NIQE parameters from inside a basicsr sdist tarball (or a loose .npz)."""
    if sdist.suffix == ".npz":
        data = sdist.read_bytes()
    else:
        with tarfile.open(sdist) as tar:
            names = [n for n in tar.getnames() if n.endswith(MEMBER)]
            if not names:
                raise SystemExit(f"{sdist}: no {MEMBER} inside")
            data = tar.extractfile(names[0]).read()
    with np.load(io.BytesIO(data)) as npz:
        return {k: npz[k] for k in npz.files}


def values_sha256(mu: np.ndarray, cov: np.ndarray) -> str:
    """A checksum of the parameter values (the .mat header holds a timestamp, so the file's own hash varies)."""
    h = hashlib.sha256()
    for a in (mu, cov):
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return h.hexdigest()


def convert(sdist: Path, out: Path) -> str:
    params = read_npz(sdist)
    mu, cov = params["mu_pris_param"].astype(np.float64), params["cov_pris_param"].astype(np.float64)
    if mu.shape != (1, 36) or cov.shape != (36, 36):
        raise SystemExit(f"{sdist}: unexpected shapes mu {mu.shape}, cov {cov.shape}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".mat.tmp")
    os.close(fd)
    try:
        # pyiqa's NIQE reads these two key names (scipy.io.loadmat(path)['mu_prisparam'], ['cov_prisparam']).
        scipy.io.savemat(tmp, {"mu_prisparam": mu, "cov_prisparam": cov})
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the file is shipped data
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return values_sha256(mu, cov)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help="basicsr-1.4.2.tar.gz (or its niqe_pris_params.npz)")
    parser.add_argument("out", type=Path, help="output .mat, e.g. resources/niqe/niqe_pris_params.mat")
    args = parser.parse_args(argv)
    digest = convert(args.sdist, args.out)
    print(f"wrote {args.out} (values sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
