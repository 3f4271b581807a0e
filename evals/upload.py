"""`python -m evals upload`: cases and results to LangSmith as a dataset and an experiment."""

from __future__ import annotations

import argparse
from typing import TextIO


def upload(args: argparse.Namespace, out: TextIO) -> int:
    out.write("evals: upload is not available yet; nothing was sent\n")
    return 0
