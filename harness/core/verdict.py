"""One vocabulary for judgements: what a case or a difference was judged,
and which two results a judgement compares.

`agree`, `run`, `show` and every report speak these words; their values
are the words the JSON files and the email have always used.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple


class Verdict(StrEnum):
    """How a case, or one difference of it, was judged; in this order a
    case takes the gravest of its differences' verdicts."""

    AGREE = "agree"  # no difference
    DECLARED = "declared"  # a change the patch says it makes
    TRIAGED = "triaged"  # a known kernel/model disagreement (cases/triage.toml)
    UNEXPECTED = "unexpected"  # anything else: what the reviewer has to read
    # a side's boot was stopped by the backstop for a blocked boot (not out
    # of CPU time) or by the host memory limit (--mem-mb): nothing to judge,
    # and another try, or more memory, may settle it
    INCONCLUSIVE = "inconclusive"
    FAILED = "failed"  # the harness broke (a shim server died): nothing to judge


# Kernel outcomes that say the simulation ran out of time or broke, not what
# the code computes: the case is neither agreeing nor disagreeing.  A kernel
# that loops uses up its CPU time instead: a "hang", judged like a BUG.
INCONCLUSIVE_OUTCOMES = frozenset({"timeout", "memory", "harness"})


def unjudged(outcomes: Mapping[str, str]) -> Verdict | None:
    """A case's verdict when a side's kernel outcome leaves nothing to judge
    (failed before inconclusive: a broken harness is the graver news)."""
    if "harness" in outcomes.values():
        return Verdict.FAILED
    if {"timeout", "memory"} & set(outcomes.values()):
        return Verdict.INCONCLUSIVE
    return None


class Comparison(StrEnum):
    """Which two results a difference was found between."""

    OLD_KERNEL_VS_MODEL = "old"
    NEW_KERNEL_VS_MODEL = "new"
    KERNELS_OLD_VS_NEW = "kernel"
    MODELS_OLD_VS_NEW = "model"

    @property
    def description(self) -> str:
        """For a reader of the email: "old side, kernel vs model"."""
        return _DESCRIPTIONS[self]

    @property
    def column(self) -> str:
        """For a table cell: "old: kernel/model"."""
        return _COLUMNS[self]

    @staticmethod
    def kernel_vs_model(side: str) -> Comparison:
        """A side's real code against its model; `side` is "old" or "new"."""
        return Comparison(side)


_DESCRIPTIONS = {
    Comparison.OLD_KERNEL_VS_MODEL: "old side, kernel vs model",
    Comparison.NEW_KERNEL_VS_MODEL: "new side, kernel vs model",
    Comparison.KERNELS_OLD_VS_NEW: "kernel, old vs new",
    Comparison.MODELS_OLD_VS_NEW: "models, old vs new",
}
_COLUMNS = {
    Comparison.OLD_KERNEL_VS_MODEL: "old: kernel/model",
    Comparison.NEW_KERNEL_VS_MODEL: "new: kernel/model",
    Comparison.KERNELS_OLD_VS_NEW: "kernel: old/new",
    Comparison.MODELS_OLD_VS_NEW: "model: old/new",
}


class FindingKind(NamedTuple):
    """What makes findings "the same": verdict, signature (comparison and
    field, indices stripped) and the rule that explained them."""

    verdict: Verdict
    signature: str
    rule: str | None
