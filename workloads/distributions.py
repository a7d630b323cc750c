"""Random distributions for workloads: pydantic specs, exact means, fast block samplers, streams.

Reproducibility contract: a sampler owns nothing but its generator's position. When one
generator feeds exactly one sampler, the sequence of draws does not depend on ``block`` (numpy
draws each element sequentially). When several samplers share a generator (as the request mix
does), refills interleave, so the block size (fixed at 1024 by callers) is part of the contract.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, Self, TypeAlias

import numpy as np
import numpy.typing as npt
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError
from scipy import special

from mpmsim.errors import InputError
from mpmsim.errors.validation import field_error

_Positive = Annotated[float, Field(gt=0)]
_Array = npt.NDArray[np.float64]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Clipped(_Spec):
    """A random kind; draws are clipped to [min, max] (each bound optional)."""

    min: float | None = Field(None, description="draws below become this value")
    max: float | None = Field(None, description="draws above become this value")

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) must not exceed max ({self.max:g})")
        return self


class Exponential(_Clipped):
    """Exponential with the given mean (cv = 1)."""

    dist: Literal["exponential"] = "exponential"
    mean: _Positive


class Lognormal(_Clipped):
    """Lognormal given by its mean and coefficient of variation."""

    dist: Literal["lognormal"] = "lognormal"
    mean: _Positive
    cv: _Positive

    def mu_sigma(self) -> tuple[float, float]:
        """Parameters of the underlying normal: (mu, sigma)."""
        s2 = math.log1p(self.cv**2)
        return math.log(self.mean) - s2 / 2.0, math.sqrt(s2)


class Gamma(_Clipped):
    """Gamma given by its mean and coefficient of variation (shape 1/cv², scale mean·cv²)."""

    dist: Literal["gamma"] = "gamma"
    mean: _Positive
    cv: _Positive


class Weibull(_Clipped):
    """Weibull given by its mean and shape (scale = mean / Γ(1 + 1/shape))."""

    dist: Literal["weibull"] = "weibull"
    mean: _Positive
    shape: _Positive

    def scale(self) -> float:
        """The Weibull scale parameter."""
        return self.mean / math.gamma(1.0 + 1.0 / self.shape)


class Geometric(_Clipped):
    """Geometric on {1, 2, 3, ...} with p = 1/mean (e.g. requests per session): give ``mean``
    or its success probability ``p`` (the chance that a request is the session's last)."""

    dist: Literal["geometric"] = "geometric"
    mean: float = Field(ge=1, description="mean draw, 1/p")
    p: float | None = Field(None, gt=0, le=1, description="or the success probability, 1/mean")

    @model_validator(mode="before")
    @classmethod
    def _mean_from_p(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("p") is None:
            return data
        if data.get("mean") is not None:
            raise ValueError("give mean or p, not both (mean = 1/p)")
        p = data["p"]
        if isinstance(p, int | float) and not isinstance(p, bool) and 0 < p <= 1:
            return {**data, "mean": 1.0 / p}
        return {**data, "mean": 1.0}  # a stand-in: p's own check names what p allows


class Uniform(_Clipped):
    """Continuous uniform on [low, high]."""

    dist: Literal["uniform"] = "uniform"
    low: float
    high: float

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not exceed high ({self.high:g})")
        return self


class Empirical(_Clipped):
    """Draws one of ``values``, with probability proportional to ``weights`` (default equal)."""

    dist: Literal["empirical"] = "empirical"
    values: list[float] = Field(min_length=1)
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _check_weights(self) -> Self:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"{len(self.weights)} weights for {len(self.values)} values")
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be zero")
        return self

    def probabilities(self) -> _Array:
        """Normalised weights."""
        w = np.asarray(self.weights if self.weights is not None else [1.0] * len(self.values))
        return np.asarray(w / w.sum(), dtype=np.float64)


class Deterministic(_Spec):
    """Always ``value`` (same as writing the plain number)."""

    dist: Literal["deterministic"] = "deterministic"
    value: float


RandomSpec: TypeAlias = Exponential | Lognormal | Gamma | Weibull | Geometric | Uniform | Empirical
AnySpec: TypeAlias = RandomSpec | Deterministic
_Tagged: TypeAlias = Annotated[AnySpec, Field(discriminator="dist")]
#: A plain number means deterministic; otherwise a mapping whose ``dist`` key picks the kind.
DistributionSpec: TypeAlias = float | _Tagged
_TAGGED: TypeAdapter[AnySpec] = TypeAdapter(_Tagged)


def _lowest_parameter(spec: AnySpec) -> tuple[str, float]:
    """The parameter that sets the smallest value ``spec`` draws before clipping, and that value."""
    if isinstance(spec, Deterministic):
        return "value", spec.value
    if isinstance(spec, Uniform):
        return "low", spec.low
    if isinstance(spec, Empirical):
        i = int(np.argmin(spec.values))
        return f"values[{i}]", spec.values[i]
    return "mean", 0.0  # the other kinds draw from (0, inf) or {1, 2, ...}


def _check_non_negative(spec: DistributionSpec) -> DistributionSpec:
    """``spec`` itself, if it never draws a value below 0; else a validation error naming why."""
    if isinstance(spec, float | int):
        if spec < 0:
            raise PydanticCustomError("non_negative", "must be >= 0")
        return spec
    name, value = _lowest_parameter(spec)
    floor = value  # the smallest draw after clipping
    if isinstance(spec, _Clipped):
        # np.clip(x, min, max) is min(max(x, min), max): a negative max wins over everything.
        if spec.max is not None and spec.max < 0:
            name, value, floor = "max", spec.max, spec.max
        elif spec.min is not None:
            floor = max(value, spec.min)
    if floor < 0:
        raise field_error(name, f"must be >= 0 (got {value:g})")
    return spec


#: A distribution of a quantity that cannot be negative (a time, a size, a count).
NonNegativeSpec: TypeAlias = Annotated[DistributionSpec, AfterValidator(_check_non_negative)]


def parse_spec(data: object, *, file: str | None = None, field: str | None = None) -> AnySpec:
    """Validate ``data`` (number, mapping or spec) into a spec model; InputError if invalid."""
    if isinstance(data, AnySpec):
        return data
    if isinstance(data, float | int) and not isinstance(data, bool):
        data = {"dist": "deterministic", "value": data}
    try:
        return _TAGGED.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:])  # loc[0] is the kind
        msg = f"{where}: {err['msg']}" if where else err["msg"]
        raise InputError(msg, file=file, field=field) from None


def _partial_min(spec: RandomSpec, x: float) -> float:
    """E[min(X, x)] for the unclipped distribution of ``spec``."""
    if isinstance(spec, Empirical):
        v = np.minimum(np.asarray(spec.values, dtype=np.float64), x)
        return float(np.dot(v, spec.probabilities()))
    if isinstance(spec, Uniform):
        lo, hi = spec.low, spec.high
        if x <= lo:
            return x
        if x >= hi:
            return (lo + hi) / 2.0
        return x - (x - lo) ** 2 / (2.0 * (hi - lo))
    if x <= 0.0:  # remaining kinds live on (0, inf) or {1, 2, ...}
        return x
    if isinstance(spec, Geometric):  # integral of the survival q^floor(t) from 0 to x
        p = 1.0 / spec.mean
        q = 1.0 - p
        n = math.floor(x)
        return (1.0 - q**n) / p + (x - n) * q**n
    if isinstance(spec, Exponential):
        return spec.mean * -math.expm1(-x / spec.mean)
    if isinstance(spec, Gamma):
        k, theta = 1.0 / spec.cv**2, spec.mean * spec.cv**2
        z = x / theta
        return float(spec.mean * special.gammainc(k + 1.0, z) + x * special.gammaincc(k, z))
    if isinstance(spec, Lognormal):
        mu, sigma = spec.mu_sigma()
        lx = math.log(x)
        return float(
            spec.mean * special.ndtr((lx - mu - sigma**2) / sigma)
            + x * special.ndtr((mu - lx) / sigma)
        )
    k, lam = spec.shape, spec.scale()  # Weibull
    z = (x / lam) ** k
    return float(spec.mean * special.gammainc(1.0 + 1.0 / k, z) + x * math.exp(-z))


def _raw_mean(spec: RandomSpec) -> float:  # unclipped
    if isinstance(spec, Uniform):
        return (spec.low + spec.high) / 2.0
    if isinstance(spec, Empirical):
        return float(np.dot(np.asarray(spec.values, dtype=np.float64), spec.probabilities()))
    return spec.mean


def mean_of(spec: DistributionSpec) -> float:
    """The exact mean of ``spec``, clipping included.

    Uses clip(X, a, b) = a + min(X, b) - min(X, a) and closed forms of E[min(X, x)]
    (incomplete gamma / normal CDF via scipy.special); no sampling, no quadrature.
    """
    if isinstance(spec, float | int | Deterministic):
        return float(spec) if isinstance(spec, float | int) else spec.value
    upper = _partial_min(spec, spec.max) if spec.max is not None else _raw_mean(spec)
    lower = spec.min - _partial_min(spec, spec.min) if spec.min is not None else 0.0
    return lower + upper


def describe(spec: DistributionSpec) -> str:
    """Short human text, e.g. ``exponential(mean=2)`` or ``lognormal(mean=5, cv=1.5, max=60)``."""
    if isinstance(spec, float | int):
        return f"{spec:g}"
    parts: list[str] = []
    fields = spec.model_dump(exclude={"dist"}, exclude_none=True).items()
    for name, value in sorted(fields, key=lambda kv: kv[0] in ("min", "max")):  # bounds last
        if isinstance(value, list):
            shown = ", ".join(f"{v:g}" for v in value[:4]) + (", ..." if len(value) > 4 else "")
            parts.append(f"{name}=[{shown}]")
        else:
            parts.append(f"{name}={value:g}")
    return f"{spec.dist}({', '.join(parts)})"


_Fill = Callable[[np.random.Generator, int], _Array]


def _filler(spec: RandomSpec) -> _Fill:
    """A function drawing ``n`` unclipped values with one vectorised numpy call."""
    if isinstance(spec, Exponential):
        m = spec.mean
        return lambda g, n: g.exponential(m, n)
    if isinstance(spec, Lognormal):
        mu, sigma = spec.mu_sigma()
        return lambda g, n: g.lognormal(mu, sigma, n)
    if isinstance(spec, Gamma):
        k, theta = 1.0 / spec.cv**2, spec.mean * spec.cv**2
        return lambda g, n: g.gamma(k, theta, n)
    if isinstance(spec, Weibull):
        k, lam = spec.shape, spec.scale()
        return lambda g, n: lam * g.weibull(k, n)
    if isinstance(spec, Geometric):
        p = 1.0 / spec.mean
        return lambda g, n: g.geometric(p, n).astype(np.float64)
    if isinstance(spec, Uniform):
        lo, hi = spec.low, spec.high
        return lambda g, n: g.uniform(lo, hi, n)
    values = np.asarray(spec.values, dtype=np.float64)
    cdf = np.cumsum(spec.probabilities())
    cdf[-1] = 1.0
    last = len(values) - 1
    return lambda g, n: values[np.minimum(np.searchsorted(cdf, g.random(n), side="right"), last)]


class Sampler:
    """Hands out pre-drawn values one at a time; refills ``block`` values per numpy call."""

    __slots__ = ("_block", "_fill", "_hi", "_it", "_lo", "_rng")

    def __init__(  # lo/hi: clipping bounds
        self, fill: _Fill, rng: np.random.Generator, block: int, lo: float | None, hi: float | None
    ) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1, got {block}")
        self._fill, self._rng, self._block, self._lo, self._hi = fill, rng, block, lo, hi
        self._it: Iterator[float] = iter(())

    def _refill(self) -> float:  # one vectorised numpy call per block
        arr = self._fill(self._rng, self._block)
        if self._lo is not None or self._hi is not None:
            arr = np.clip(arr, self._lo, self._hi)
        self._it = iter(arr.tolist())
        return next(self._it)

    def draw(self) -> float:
        """The next value."""
        try:
            return next(self._it)
        except StopIteration:
            return self._refill()

    def draw_int(self) -> int:
        """The next value rounded half up to an integer (for counts)."""
        return math.floor(self.draw() + 0.5)


class ConstantSampler(Sampler):
    """Always the same value; never touches a random generator."""

    __slots__ = ("_int", "_value")

    def __init__(self, value: float) -> None:
        self._value = float(value)
        self._int = math.floor(self._value + 0.5)

    def draw(self) -> float:
        """The constant."""
        return self._value

    def draw_int(self) -> int:
        """The constant rounded half up."""
        return self._int


def make_sampler(
    spec: DistributionSpec | Mapping[str, Any],
    rng: np.random.Generator,
    *,
    block: int = 1024,
) -> Sampler:
    """A sampler of ``spec`` drawing from ``rng`` (a mapping is validated first)."""
    if not isinstance(spec, RandomSpec):  # a number, a mapping or Deterministic
        spec = parse_spec(spec)
        if isinstance(spec, Deterministic):
            return ConstantSampler(spec.value)
    return Sampler(_filler(spec), rng, block, spec.min, spec.max)
