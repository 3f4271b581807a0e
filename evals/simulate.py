"""`python -m evals run --engine llm --simulate`: an LLM-simulated customer (openevals) pursues each
conversation case's `expect` as its goal instead of replaying the fixed turns. Needs a model."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from domain.business import Business

from .cases import Case


def run_simulated(cases: Sequence[tuple[Path, Case]], business: Business, args: argparse.Namespace, out: TextIO) -> int:
    out.write("evals: --simulate is not available yet; nothing ran\n")
    return 0
