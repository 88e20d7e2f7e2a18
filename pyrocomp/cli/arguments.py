"""Argument types of the ``pyrocomp`` command: each refuses bad input with one clear message."""
import argparse


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


#: the largest integer an option takes (a C int), and the largest float (float32's, where numbers become tensors)
INT_MAX, FLOAT_MAX = 2**31 - 1, 3.4028234663852886e38


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer but got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer but got {value}")
    if value > INT_MAX:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {INT_MAX} but got {value}")
    return value


def non_negative_int(text):
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 0 or value > INT_MAX:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer up to {INT_MAX} but got {text!r}")
    return value


def int_in(low, high, what):
    """An argument type accepting an integer in ``low..high``."""

    def parse(text):
        value = int(text) if text.lstrip("-").isdigit() else None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, an integer in {low}..{high}, but got {text!r}")
        return value

    return parse


def seed(text):
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in 0..{2**32 - 1} but got {text!r}")
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


positive_float = float_where(lambda v: 0 < v <= FLOAT_MAX, "a positive number")
finite_float = float_where(lambda v: abs(v) <= FLOAT_MAX, "a finite number")
percentage_points = float_where(lambda v: 0 <= v <= 100, "percentage points in [0, 100]")
fraction = float_where(lambda v: 0 < v < 1, "a fraction in (0, 1)")


def choice(names, kind):
    """An argument type accepting the keys of ``names`` (a registry), naming the bad value and the choices."""

    def parse(text):
        if text not in names:
            raise argparse.ArgumentTypeError(f"unknown {kind} {text!r}; expected one of {', '.join(sorted(names))}")
        return text

    return parse
