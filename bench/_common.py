"""What the benchmarks share. Every script in bench/ writes its JSON with ``write_results``; the heads'
benchmarks (bench/tagging.py, bench/qa.py) also take the command line's common options from ``parser``
and ``parse`` (the rule that ``--quick`` writes only where ``--out`` says) and the run's settings for
the JSON from ``machine``."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with --quick, --seed, --threads and --out; a benchmark adds its own options."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, under a minute (writes only to --out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default=None, help="where to write the JSON (default bench/results/<name>.json)")
    return p


def parse(p: argparse.ArgumentParser, argv, name: str, quick: dict) -> tuple[argparse.Namespace, Path]:
    """Parse ``argv``; under --quick set the options in ``quick`` and insist on --out; set the torch threads.
    Returns the arguments and where the JSON goes."""
    args = p.parse_args(argv)
    if args.quick:
        for key, value in quick.items():
            setattr(args, key, value)
        if args.out is None:
            p.error("--quick writes only to the file --out names (never over the committed results).")
    if args.threads:
        torch.set_num_threads(args.threads)
    return args, Path(args.out or Path(__file__).parent / "results" / f"{name}.json")


def machine(device_description: dict) -> dict:
    """The settings every result records: device, threads, load, versions."""
    return {"device": device_description, "threads": torch.get_num_threads(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(), "torch": torch.__version__}


def write_results(path, record: dict) -> Path:
    """Write ``record`` to ``path`` as indented JSON (making the folders), by way of a temporary file
    beside it so a reader never sees half a file; print ``wrote <path>``. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {path}")
    return path
