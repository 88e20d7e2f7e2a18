"""Helpers shared by the benchmarks: argument parsing, the table, the JSON rows."""
import argparse
import json
import os
from pathlib import Path

import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", required=True, help="directory for NAME.json")
    p.add_argument("--quick", action="store_true", help="a few epochs, to check the script runs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    return p


def setup(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)


def write_rows(out, name, rows):
    """Write ``rows`` (a list of dicts, one per method) to ``out/name.json`` atomically."""
    path = Path(out) / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rows, indent=2))
    os.replace(tmp, path)
    return path


def print_table(rows, columns):
    """Print ``rows`` as a Markdown table of ``columns`` (key, header, format)."""
    print("| " + " | ".join(h for _, h, _ in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None else format(value, fmt) if fmt else str(value))
        print("| " + " | ".join(cells) + " |")


def calibration_fields(calibration):
    """The chosen threshold, its held-out error (raw and smoothed) and the reference error
    (percent) of a :class:`~pyrocomp.pruning.Calibration`, or ``None``s without one."""
    if calibration is None:
        return dict(criterion=None, validation_error=None, smoothed_validation_error=None,
                    reference_validation_error=None)
    chosen = calibration.chosen
    return dict(criterion=chosen["criterion"], validation_error=100 * chosen["error"],
                smoothed_validation_error=100 * chosen["smoothed_error"],
                reference_validation_error=100 * calibration.reference_error)
