"""How far two honest measurements of one score may lie apart: each metric's tolerance rule.

On the same numerics stack a re-run is bitwise equal (``EXACT``). On another stack (another
CPU instruction set, BLAS, thread count or GPU) the float rounding differs from the first
step on, training follows another trajectory, and the final score moves by about what
another seed would move it. The band is therefore built from statistics, never a constant:

* ``proportion`` (an accuracy over the n examples of a split): Z standard errors of the
  difference of two binomial proportions, sqrt(2 p'(1 - p') / n) with p' shrunk away from 0
  and 1 (Laplace), so that 1.000 against 0.998 is not "infinitely many" standard errors;
* ``loss`` (a mean cross-entropy over the n examples of a split): Z standard errors of the
  difference of two means, sd * sqrt(2 / n), sd being the per-example loss's standard
  deviation that the result records (``SplitSummary.loss_sd``); the loss of a converged model
  is a few mistakes' worth, and which examples those are moves from one stack to the next
  (0.038 -> 0.028 measured on the README's verify line). Without it: 10% relative;
* ``relative`` (any other score, e.g. a plug-in's): a fraction of the larger magnitude;
* ``count`` (hops solved): a fixed number of units either way;

each widened by Z times a seed-to-seed standard deviation. ``band`` takes that spread from its
caller (the CI gate: the user's own baseline on main). ``cross_stack_band`` is the rule of
``leaderboard verify`` on another stack, where the claims come from a submitter who may have
forged them: every term of its band comes from the verifier's own evidence, the re-runs and a
reference spread the project measured (:mod:`anchorbench.leaderboard.reference`), never from
the claimed values.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Literal

Z = 4.0  # standard errors: "a few", so that honest re-runs on another stack pass with room to spare
EXACT = 1e-9  # same stack: scores are bitwise equal; this only absorbs JSON float printing


@dataclass(frozen=True)
class Tolerance:
    kind: Literal["proportion", "loss", "relative", "count"]
    split: str | None = None  # proportion, loss: the split whose examples the score counts
    rel: float = 0.1  # relative (and the fallback of the others): a fraction of the larger magnitude
    units: float = 1.0  # count: units either way
    # relative: an absolute floor, for scores that sit near zero (a difference, a gain, an index),
    # where a fraction of the value would ask two honest re-runs to agree to nothing
    floor: float = 0.0

    def band(
        self, a: float, b: float, *, n: int | None = None, spread: float | None = None, sd: float | None = None
    ) -> tuple[float, str]:
        """The allowed ``|a - b|`` for two measurements of the score, and how it was derived
        (``n``: examples in the split; ``sd``: for a loss, the per-example standard deviation)."""
        seed_part = Z * (spread or 0.0)
        seed_why = f" and {Z:g} x seed sd {spread:.3g}" if spread else ""
        if self.kind == "proportion" and n:
            p = (a + b) / 2
            shrunk = (p * n + 1) / (n + 2)
            se = math.sqrt(2 * shrunk * (1 - shrunk) / n)
            return math.hypot(Z * se, seed_part), f"{Z:g} binomial s.e. (n={n}){seed_why}"
        if self.kind == "loss" and n and sd is not None:
            se = sd * math.sqrt(2 / n)
            return math.hypot(Z * se, seed_part), f"{Z:g} s.e. of a mean loss (n={n}, sd {sd:.3g}){seed_why}"
        if self.kind == "count":
            return math.hypot(self.units, seed_part), f"±{self.units:g}{seed_why}"
        # relative, or a proportion or loss whose n (or sd) is not known
        own = max(self.rel * max(abs(a), abs(b)), self.floor)
        floor = f" (at least {self.floor:g})" if self.floor else ""
        return math.hypot(own, seed_part), f"{self.rel:.0%} relative{floor}{seed_why}"

    def describe(self) -> str:
        if self.kind == "proportion":
            return f"binomial band over the {self.split} split, {Z:g} s.e., widened by the seed spread"
        if self.kind == "count":
            return f"±{self.units:g}, widened by the seed spread"
        if self.kind == "loss":
            return f"{Z:g} s.e. of a mean loss over the {self.split} split, widened by the seed spread"
        floor = f" (at least {self.floor:g})" if self.floor else ""
        return f"{self.rel:.0%} relative{floor}, widened by the seed spread"

    def pair_noise(self, rerun: float, *, n: int | None = None, sd: float | None = None) -> float:
        """The standard deviation of the difference of two measurements of one trained state
        that split sampling alone causes, estimated at the *re-run's* value."""
        if self.kind == "proportion" and n:
            shrunk = (rerun * n + 1) / (n + 2)
            return math.sqrt(2 * shrunk * (1 - shrunk) / n)
        if self.kind == "loss" and n and sd is not None:
            return sd * math.sqrt(2 / n)
        if self.kind == "count":
            return self.units / Z  # Z of them make the fixed units
        return max(self.rel * abs(rerun), self.floor) / Z


def cross_stack_band(
    tol: Tolerance, reruns: list[float], noises: list[float], seed_sd: float, *, what: str
) -> tuple[float, str]:
    """The allowed ``|mean(claimed) - mean(re-run)|`` over the same k seeds on another stack.

    On another stack a seed's re-run is a fresh draw from that seed's distribution, so a claimed
    value and its re-run differ by two draws: variance 2 (seed sd)^2 plus the split's sampling
    noise (``noises``: one ``pair_noise`` per seed). Averaged over k seeds both shrink by k. With
    k = 1 this is the per-seed band. ``seed_sd`` comes from the verifier (``seed_sd_estimate``).
    """
    k = len(reruns)
    noise_var = sum(x * x for x in noises) / k / k
    band = Z * math.sqrt(noise_var + 2 * seed_sd**2 / k)
    kind = {"proportion": "binomial", "loss": "loss s.e.", "count": "count"}.get(tol.kind, "relative")
    return band, f"{Z:g} x ({kind} noise, seed sd {seed_sd:.3g} {what})" + (f", mean of {k}" if k > 1 else "")


def seed_sd_estimate(tol: Tolerance, reruns: list[float], reference: Any | None) -> tuple[float, str]:
    """The seed-to-seed standard deviation a cross-stack band is built on: the larger of the
    re-runs' own spread and the project's reference spread for this score (which floors it: three
    re-runs can agree by chance). Both are the verifier's; the claims never enter."""
    finite = [v for v in reruns if v is not None and math.isfinite(v)]
    own = statistics.stdev(finite) if len(finite) >= 2 else 0.0
    ref = reference.sd_at(statistics.fmean(finite)) if reference is not None and finite else 0.0
    if ref > own:
        return ref, "from the reference"
    return own, f"of the {len(finite)} re-runs" if len(finite) >= 2 else "(none known)"


def proportion(split: str) -> Tolerance:
    return Tolerance("proportion", split=split)


def mean_loss(split: str) -> Tolerance:
    return Tolerance("loss", split=split)


RELATIVE = Tolerance("relative")
COUNT = Tolerance("count")


def near_zero(floor: float, rel: float = 0.1) -> Tolerance:
    """A relative band with an absolute floor: for a score whose honest value may be about 0."""
    return Tolerance("relative", rel=rel, floor=floor)


def leave_one_out_sd(values: list[float | None], index: int | None) -> float | None:
    """Sample standard deviation of the finite ``values`` other than ``values[index]``."""
    others = [v for i, v in enumerate(values) if i != index and v is not None and math.isfinite(v)]
    return statistics.stdev(others) if len(others) >= 2 else None


def split_n(splits: dict[str, Any], tolerance: Tolerance) -> int | None:
    """The number of examples a proportion or mean loss was taken over, from a result's ``splits``."""
    return _split_field(splits, tolerance, "n")


def split_loss_sd(splits: dict[str, Any], tolerance: Tolerance) -> float | None:
    """The per-example loss's standard deviation on the split a loss was taken over."""
    return _split_field(splits, tolerance, "loss_sd") if tolerance.kind == "loss" else None


def _split_field(splits: dict[str, Any], tolerance: Tolerance, key: str) -> Any:
    if tolerance.kind not in ("proportion", "loss") or tolerance.split not in splits:
        return None
    summary = splits[tolerance.split]
    value = summary.get(key) if isinstance(summary, dict) else getattr(summary, key, None)
    return value or None
