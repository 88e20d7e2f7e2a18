"""Helpers shared by the benchmarks: argument parsing, the table, the JSON rows."""
import argparse
import datetime
import json
import os
import platform
import shlex
import sys
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


def write_rows(out, name, rows, columns, command=None):
    """
    Write ``rows`` (a list of dicts, one per method) to ``out/name.json`` and the result page ``out/name.md``
    (date, command, machine, the table of ``columns`` and the pictures beside it: ``name.png`` and
    ``name_*.png``), each atomically. ``command``: the command the page records (default: this process's).
    """
    out = Path(out)
    _write_atomic(out / f"{name}.json", json.dumps(rows, indent=2))
    pictures = sorted(p.name for p in out.glob(f"{name}*.png") if p.stem == name or p.stem.startswith(name + "_"))
    _write_atomic(out / f"{name}.md", result_page(name, rows, columns, pictures, command))
    return out / f"{name}.json"


def command_line():
    """This process's command, as ``python benchmarks/NAME.py ...``."""
    return "python benchmarks/" + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])


def result_page(name, rows, columns, pictures=(), command=None):
    """The Markdown result page of benchmark ``name``: when and how it ran, and its table."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = command or command_line()
    lines = [f"# Benchmark `{name}`", "", f"- run: {now}", f"- command: `{command}`",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}, Python {platform.python_version()}", "", format_table(rows, columns)]
    if pictures:
        lines += ["", "Pictures: " + ", ".join(f"[{p}]({p})" for p in pictures)]
    return "\n".join(lines) + "\n"


def _write_atomic(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def format_table(rows, columns):
    """``rows`` as a Markdown table of ``columns`` (key, header, format)."""
    lines = ["| " + " | ".join(h.replace("|", "\\|") for _, h, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None else format(value, fmt) if fmt else str(value))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def print_table(rows, columns):
    """Print ``rows`` as a Markdown table of ``columns`` (key, header, format)."""
    print(format_table(rows, columns))


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
