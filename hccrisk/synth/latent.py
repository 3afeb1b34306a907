"""Per-patient latent variables: the hidden state every synthetic image, clinical value and outcome
derives from (see docs/synthetic.md for the equations).

Each patient has its own seed, spawned from the cohort seed with :class:`numpy.random.SeedSequence`,
so patient *i* is the same whatever the cohort size and whichever worker draws it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np

#: Scanner "vendors": each has its own equipment tags, frame rate, colour mode and display layout.
VENDORS: tuple[str, ...] = ("A", "B", "C")

_SURNAMES = (
    "Abel", "Brandt", "Castell", "Dorn", "Eriksen", "Falk", "Gallo", "Hayes", "Ibarra", "Jansen",
    "Kowal", "Lindqvist", "Moreau", "Nakata", "Olsen", "Petrov", "Quinn", "Rossi", "Sato", "Tamm",
    "Ueda", "Varga", "Weiss", "Xu", "Young", "Zeller",
)
_GIVEN = {
    "M": ("Adam", "Bo", "Chen", "David", "Emil", "Farid", "Goran", "Hiro", "Ivan", "Jun", "Karl", "Li"),
    "F": ("Anna", "Bea", "Chiara", "Dana", "Eva", "Fang", "Greta", "Hana", "Ines", "Jia", "Kim", "Lea"),
}


RIM_SLOPE, WASHOUT_SLOPE, ARTERIAL_SLOPE = 2.0, 2.0, 1.4


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


@dataclass(frozen=True)
class PatientLatents:
    """Hidden state of one synthetic patient.

    Continuous latents are dimensionless unless a unit is given. ``aggressiveness`` and
    ``liver_reserve`` are independent standard normals; the others are drawn from them plus noise.
    """

    patient_id: str  #: equals the DICOM PatientID of every study of this patient
    index: int  #: 0-based position in the cohort
    seed: int  #: per-patient seed (from the cohort seed); seeds every random draw for this patient
    cohort_seed: int  #: the cohort seed (UIDs are derived from it)
    aggressiveness: float  #: tumour biology, N(0, 1); drives recurrence (the outcomes see only this)
    liver_reserve: float  #: liver function, N(0, 1), higher = better; drives ALB/TBIL/PT and death
    cirrhosis: bool
    tumour_size_cm: float  #: largest tumour diameter, cm (1-10)
    tumour_number: int  #: 1, 2 or 3 (= three or more)
    heterogeneity: float  #: [0, 1] share of non-enhancing (necrotic) patches; follows size, not a
    rim: float  #: [0, 1] rim-enhancement strength (peripheral vs. diffuse arterial enhancement)
    washout: float  #: [0, 1] speed/depth of portal-venous/late washout of the tumour
    arterial_enhancement: float  #: [0, 1] peak arterial hyper-enhancement of the tumour vs. liver
    arterial_aggressiveness: float  #: (a + d) / sqrt 2, N(0, 1): what the arterial phase shows
    washout_aggressiveness: float  #: (a - d) / sqrt 2, N(0, 1), independent of the arterial one: PP/LP
    depth_cm: float  #: depth of the tumour centre below the probe/skin, cm
    vendor: str  #: "A", "B" or "C"
    study_datetime: dt.datetime  #: imaging date/time; for CEUS the contrast injection (t = 0)
    sex: str  #: "M" or "F"
    age: int  #: years at imaging
    patient_name: str  #: synthetic DICOM PN, "Surname^Given"
    signal: float  #: strength of the planted signal (0 = outcomes independent of everything)

    def as_row(self) -> dict[str, object]:
        """The latents as a flat dict for truth.csv (dates as ISO text)."""
        row = asdict(self)
        row["study_datetime"] = self.study_datetime.isoformat()
        row["cirrhosis"] = int(self.cirrhosis)
        return row

    def rng(self, purpose: str) -> np.random.Generator:
        """An independent generator for one purpose ("ceus", "mri", "clinical", ...) of this patient.

        Separate streams keep e.g. the clinical values identical whether or not images are written.
        """
        tag = int.from_bytes(purpose.encode()[:8].ljust(8, b"\0"), "little")
        return np.random.default_rng(np.random.SeedSequence([self.seed, tag]))


def cohort_base_date(seed: int) -> dt.datetime:
    """First possible imaging date of a cohort: a fixed function of the seed (2012-01-02 .. 2019)."""
    days = int(np.random.default_rng(np.random.SeedSequence([seed, 0xDA7E])).integers(0, 7 * 365))
    return dt.datetime(2012, 1, 2) + dt.timedelta(days=days)


def patient_seeds(n: int, seed: int) -> list[int]:
    """Per-patient seeds: the i-th does not depend on ``n``."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def draw_patient(index: int, patient_seed: int, cohort_seed: int, signal: float) -> PatientLatents:
    """Draw one patient's latents from its own seed (see docs/synthetic.md, "Latent model")."""
    g = np.random.default_rng(np.random.SeedSequence([patient_seed, 1]))
    a = float(g.standard_normal())
    # The imaging phenotype splits a into two independent halves, a = (a_ap + a_wo) / sqrt 2: the
    # arterial phase shows one, washout the other, so only the phases together see all of a. d comes
    # from its own stream, leaving every other draw (clinical values, outcomes, layout) unchanged.
    d = float(np.random.default_rng(np.random.SeedSequence([patient_seed, 2])).standard_normal())
    a_ap, a_wo = (a + d) / np.sqrt(2.0), (a - d) / np.sqrt(2.0)
    r = float(g.standard_normal())
    cirrhosis = bool(g.random() < _sigmoid(0.6 - 1.1 * r))
    # Size is seen in every phase, so a tight tie to a would let one phase read most of a through it;
    # 0.15 a + 0.40 e keeps the log-size variance of the former 0.35 a + 0.25 e (docs/synthetic.md).
    size = float(np.clip(np.exp(np.log(3.0) + 0.15 * a + 0.40 * g.standard_normal()), 1.0, 10.0))
    # Ordinal number of nodules: aggressive tumours are more often multifocal.
    u = 0.9 * a + g.logistic()
    number = 1 if u < 1.6 else (2 if u < 2.8 else 3)
    # Necrosis is visible in every phase, so it follows size (already visible everywhere) and no half of a.
    heterogeneity = float(np.clip(_sigmoid(-1.4 + 2.0 * np.log(size / 3.0) + 0.4 * g.standard_normal()), 0.0, 1.0))
    rim = float(_sigmoid(-1.2 + RIM_SLOPE * a_ap + 0.5 * g.standard_normal()))
    washout = float(_sigmoid(0.2 + WASHOUT_SLOPE * a_wo + 0.5 * g.standard_normal()))
    arterial = float(_sigmoid(1.0 + ARTERIAL_SLOPE * a_ap + 0.5 * g.standard_normal()))
    depth = float(np.clip(g.normal(7.0, 1.6), 4.0, 11.0))
    vendor = VENDORS[int(g.integers(len(VENDORS)))]
    sex = "M" if g.random() < 0.82 else "F"
    age = int(np.clip(round(g.normal(57.0, 10.0)), 25, 85))
    days = int(g.integers(0, 5 * 365))
    seconds = int(g.integers(8 * 3600, 17 * 3600))
    when = cohort_base_date(cohort_seed) + dt.timedelta(days=days, seconds=seconds)
    name = f"{_SURNAMES[int(g.integers(len(_SURNAMES)))]}^{_GIVEN[sex][int(g.integers(12))]}"
    return PatientLatents(
        patient_id=f"SYN{index + 1:04d}",
        index=index,
        seed=patient_seed,
        cohort_seed=cohort_seed,
        aggressiveness=a,
        liver_reserve=r,
        cirrhosis=cirrhosis,
        tumour_size_cm=round(size, 2),
        tumour_number=number,
        heterogeneity=heterogeneity,
        rim=rim,
        washout=washout,
        arterial_enhancement=arterial,
        arterial_aggressiveness=float(a_ap),
        washout_aggressiveness=float(a_wo),
        depth_cm=depth,
        vendor=vendor,
        study_datetime=when,
        sex=sex,
        age=age,
        patient_name=name,
        signal=float(signal),
    )


def draw_latents(n: int, seed: int, signal: float = 1.0) -> list[PatientLatents]:
    """Latents of a cohort of ``n`` patients; deterministic for ``seed``.

    ``signal`` is recorded on each patient; it scales the effect of the latents on the outcomes only
    (images and clinical values always follow the latents).
    """
    if n < 1:
        raise ValueError(f"number of patients must be >= 1, got {n}")
    if signal < 0:
        raise ValueError(f"signal must be >= 0, got {signal}")
    return [draw_patient(i, s, seed, signal) for i, s in enumerate(patient_seeds(n, seed))]
