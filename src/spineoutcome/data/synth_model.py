"""The pre-operative patient state of the synthetic cohort: centres, the node DAG, follow-up time.

A block of patients is generated node by node in the order of the parameter file; each node is
one of a few vectorised models (categorical, logistic, normal, lognormal, ordinal, expit,
derived, measured). Centre-level parameters (random intercepts, radiomics scanner shifts) are
drawn once per seed; every random draw of a block comes from its own stream
``SeedSequence([seed, block, crc32(name)])``, so editing one node never changes the random
numbers of another (common random numbers for sensitivity analyses).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, ndtr

from spineoutcome.data.synth_config import TRUE_PREFIX, Linear, Node, SynthConfig
from spineoutcome.dictionary import DataDictionary

State = dict[str, np.ndarray]


def stream(*words: int | str) -> np.random.Generator:
    """A generator keyed by integers and names (names hashed with CRC-32, stable across runs)."""
    entropy = [w if isinstance(w, int) else zlib.crc32(w.encode()) for w in words]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def rounded_normal(rng: np.random.Generator, size: int | tuple[int, ...], scale: float, limit: int) -> np.ndarray:
    """Integers clip(rint(N(0, scale)), -limit, limit): visit-day offsets and grid measurement errors."""
    return np.clip(np.rint(rng.standard_normal(size) * scale), -limit, limit).astype(np.int64)


def rounded_normal_pmf(scale: float, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Support and exact probabilities of :func:`rounded_normal` (clipped tails sit on the edges)."""
    support = np.arange(-limit, limit + 1)
    upper = ndtr((support + 0.5) / scale)
    lower = ndtr((support - 0.5) / scale)
    upper[-1], lower[0] = 1.0, 0.0
    return support, upper - lower


def grid_limit(sd: float, grid: float, truncate_sd: float) -> int:
    """Largest measurement error, in grid steps, of a grid-rounded normal error truncated at ``truncate_sd``."""
    return int(np.floor(truncate_sd * sd / grid + 1e-9))


@dataclass
class PatientBlock:
    """One block of patients: their global offset, centre index and generated state."""

    seed: int
    index: int
    start: int
    n: int
    centre: np.ndarray
    state: State = field(default_factory=dict)

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, self.index, name)


class CohortModel:
    """Draws centre-level parameters once and generates blocks of patients from the node DAG."""

    def __init__(self, config: SynthConfig, dictionary: DataDictionary, seed: int) -> None:
        self.config = config
        self.dictionary = dictionary
        self.seed = seed
        self.centre_column = dictionary.column("centre")
        self.codes = np.array(config.centre_codes)
        weights = np.array([c.weight for c in config.centres])
        self._cumulative = np.cumsum(weights / weights.sum())
        self._offsets: dict[str, np.ndarray] = {}

    def centre_offsets(self, key: str, linear: Linear) -> np.ndarray:
        """Per-centre shift of a linear predictor: fixed case-mix offset + seeded random intercept."""
        if key not in self._offsets:
            fixed = np.array([(linear.centre_offsets or {}).get(c, 0.0) for c in self.config.centre_codes])
            random = (
                stream(self.seed, "centre:" + key).normal(0.0, linear.centre_sd, len(fixed))
                if linear.centre_sd
                else 0.0
            )
            self._offsets[key] = fixed + random
        return self._offsets[key]

    def centre_normal(self, key: str, sd: float, columns: int) -> np.ndarray:
        """A (centres x columns) matrix of N(0, sd) centre-level effects, drawn once per seed."""
        return stream(self.seed, "centre:" + key).normal(0.0, sd, (len(self.codes), columns))

    def predictor(self, key: str, linear: Linear, block: PatientBlock) -> np.ndarray:
        """Linear predictor of ``linear`` for every patient of ``block``."""
        lp = linear.intercept + self.centre_offsets(key, linear)[block.centre]
        for expr, coef in linear.terms:
            lp = lp + coef * expr(block.state, block.n).astype(np.float64)
        return lp

    def patients(self, index: int, start: int, n: int) -> PatientBlock:
        """Generate block ``index`` (patients ``start`` .. ``start + n - 1``)."""
        rng = stream(self.seed, index, "centre")
        centre = np.searchsorted(self._cumulative, rng.random(n), side="right").clip(0, len(self.codes) - 1)
        block = PatientBlock(self.seed, index, start, n, centre)
        block.state[self.centre_column] = self.codes[centre]
        for node in self.config.nodes:
            block.state[node.name] = self._node(node, block)
        self._timeline(block)
        return block

    def _timeline(self, block: PatientBlock) -> None:
        """Surgery date and end of contact (loss to follow-up or the administrative cutoff)."""
        config = self.config
        starts = np.array([c.enrolment[0] for c in config.centres], dtype="datetime64[D]")[block.centre]
        ends = np.array([c.enrolment[1] for c in config.centres], dtype="datetime64[D]")[block.centre]
        span = (ends - starts).astype(np.int64) + 1
        rng = block.rng("surgery_date")
        dates = starts + np.floor(rng.random(block.n) * span).astype(np.int64)
        block.state[self.dictionary.column("surgery_date")] = dates
        lost = block.rng("lost").random(block.n) < expit(self.predictor("follow_up.lost", config.lost, block))
        lo, hi = config.lost_days
        lost_day = block.rng("lost_day").integers(lo, hi + 1, block.n)
        admin = (config.administrative_cutoff - dates).astype(np.int64)
        last = self.dictionary.patient_table[self.dictionary.column("last_followup")]
        cap = int(last.range[1]) if last.range else admin.max()
        block.state[last.name] = np.minimum(np.where(lost, np.minimum(lost_day, admin), admin), cap)

    # ------------------------------------------------------------------ nodes

    def _node(self, node: Node, block: PatientBlock) -> np.ndarray:
        rng = block.rng("node:" + node.name)
        values = getattr(self, f"_{node.model}")(node, block, rng)
        if values.dtype.kind == "f":
            values = self._shape(node, values)
        if node.when is not None:
            keep = node.when(block.state, block.n).astype(bool)
            values = np.where(keep, values, self._otherwise(node, values))
        return values

    def _otherwise(self, node: Node, values: np.ndarray) -> Any:
        if node.otherwise is None:
            return "" if values.dtype.kind == "U" else np.nan
        return node.otherwise

    def _shape(self, node: Node, values: np.ndarray) -> np.ndarray:
        bounds = [node.clip] if node.clip else []
        variable = self.dictionary.variable(node.name.removeprefix(TRUE_PREFIX)) if not node.latent else None
        if variable is not None and variable.range:
            bounds.append(variable.range)
        for lo, hi in bounds:
            values = np.clip(values, lo, hi)
        if node.decimals is not None:
            values = np.round(values, node.decimals) + 0.0
        return values

    def _normal(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        return self.predictor(node.name, node.linear, block) + node.sd * rng.standard_normal(block.n)

    def _lognormal(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        return np.exp(self._normal(node, block, rng))

    def _logistic(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        return rng.random(block.n) < expit(self.predictor(node.name, node.linear, block))

    def _expit(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        return expit(self.predictor(node.name, node.linear, block))

    def _ordinal(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        latent = self.predictor(node.name, node.linear, block) + rng.logistic(size=block.n)
        return np.asarray(node.values)[np.searchsorted(node.cutpoints, latent)]

    def _categorical(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        categories = self.dictionary.variable(node.name.removeprefix(TRUE_PREFIX)).categories or ()
        assert node.reference is not None
        levels = [node.reference, *(c for c in categories if c in node.levels)]
        logits = np.zeros((block.n, len(levels)))
        for j, level in enumerate(levels[1:], start=1):
            logits[:, j] = self.predictor(f"{node.name}:{level}", node.levels[level], block)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        cumulative = np.cumsum(probs, axis=1)
        u = rng.random(block.n) * cumulative[:, -1]
        return np.asarray(levels)[(u[:, None] >= cumulative[:, :-1]).sum(axis=1)]

    def _derived(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        assert node.expr is not None
        return np.array(node.expr(block.state, block.n))

    def _measured(self, node: Node, block: PatientBlock, rng: np.random.Generator) -> np.ndarray:
        assert node.of is not None
        truth = block.state[node.of]
        if node.noise == "ct_thickness":
            ct = self.config.ct
            limit = grid_limit(ct.thickness_sd_mm, ct.grid_mm, ct.truncate_sd)
            steps = rounded_normal(rng, block.n, ct.thickness_sd_mm / ct.grid_mm, limit)
            return truth + ct.grid_mm * steps
        return truth + node.sd * rng.standard_normal(block.n)
