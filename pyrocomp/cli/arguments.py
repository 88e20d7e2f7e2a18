"""Argument types of the ``pyrocomp`` command: each refuses bad input with one clear message."""
import argparse


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer but got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer but got {value}")
    return value


def non_negative_int(text):
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer but got {text!r}")
    return value


def float_where(accept, expected):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected} but got {text!r}")
        return value

    return parse


positive_float = float_where(lambda v: 0 < v < float("inf"), "a positive number")
finite_float = float_where(lambda v: abs(v) < float("inf"), "a finite number")
percentage_points = float_where(lambda v: 0 <= v <= 100, "percentage points in [0, 100]")
fraction = float_where(lambda v: 0 < v < 1, "a fraction in (0, 1)")


def choice(names, kind):
    """An argument type accepting the keys of ``names`` (a registry), naming the bad value and the choices."""

    def parse(text):
        if text not in names:
            raise argparse.ArgumentTypeError(f"unknown {kind} {text!r}; expected one of {', '.join(sorted(names))}")
        return text

    return parse
