"""Series selection rules: which series of a patient is the CEUS cine and which MR series is which phase.

Rules only, never hand-picked UIDs. Every series found gets a :class:`Decision` (used or not, and why)
that the ingest writes to the manifest.

CEUS: the US multi-frame instances (NumberOfFrames > 1) of one study. When a study holds both contrast
and plain cines, the contrast ones are kept (Contrast/Bolus Agent present, or a contrast keyword in
the description or Image Type). With several CEUS studies, the one with the most frames is used.

MRI phases, in order: (1) keywords of the Series Description (tokenised, case-insensitive, any vendor);
(2) for dynamic series left unnamed or named ambiguously, acquisition time after the contrast injection
(given, Contrast Bolus Start Time, or estimated from a phase named by keyword), else their order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from hccrisk.dicom.scan import Series

US_MULTIFRAME_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.3"}
CEUS_KEYWORDS = ("ceus", "contrast", "cps", "cadence", "chi", "cei", "cha", "pulse inversion", "sonovue",
                 "sonazoid", "definity", "optison", "lumason", "mi low", "low mi", "cnti", "cnt")

MRI_PHASES = ("T2", "AP", "PVP", "DP")
# Phrases: word sequences after lower-casing and splitting at anything not a letter or digit.
PHASE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "AP": ("ap", "art", "arterial", "arterial phase", "hap", "lap", "late arterial", "early arterial",
           "20s", "25s", "30s", "35s", "20 s", "25 s", "30 s", "35 s", "20 sec", "30 sec", "phase 1",
           "dyn 1", "ph1"),
    "PVP": ("pvp", "pv", "portal", "portal venous", "portovenous", "venous", "ven", "60s", "65s",
            "70s", "75s", "80s", "60 s", "70 s", "80 s", "70 sec", "phase 2", "dyn 2", "ph2"),
    "DP": ("dp", "delay", "delayed", "del", "equilibrium", "equil", "eq", "transitional", "late",
           "3min", "3 min", "3 m", "180s", "180 s", "5min", "5 min", "phase 3", "dyn 3", "ph3"),
    "T2": ("t2", "t2w", "t2wi", "haste", "ssfse", "ssh", "ss fse", "t2 tse", "t2 fse", "mvxd", "blade",
           "propeller", "multivane"),
}
# A description with one of these is never a contrast phase or T2 used for the models.
EXCLUDE_KEYWORDS = ("loc", "localizer", "localiser", "scout", "survey", "pre", "precontrast",
                    "native", "mask", "sub", "subtraction", "calibration", "asset cal", "dwi", "adc",
                    "diffusion", "t1 in", "in phase", "opp", "opposed", "out phase", "fat only", "f", "mip",
                    "mpr", "b0", "b50", "b800", "t2 star", "t2star")
# Timing windows after the injection for unnamed dynamic series (s).
PHASE_WINDOWS_S = {"AP": (10.0, 50.0), "PVP": (50.0, 110.0), "DP": (110.0, 400.0)}
# Typical delay of a named phase after the injection (s): estimates the injection from it.
TYPICAL_DELAY_S = {"AP": 30.0, "PVP": 70.0, "DP": 180.0}


@dataclass(frozen=True)
class Decision:
    """What the selection made of one series."""

    series: Series
    role: str  # "ceus", "mri:AP", ..., or "" when unused
    used: bool
    reason: str


def tokens(description: str) -> list[str]:
    """Lower-case alphanumeric words of a description ("T1_VIBE ART-30s" -> t1 vibe art 30s)."""
    return [w for w in re.split(r"[^a-z0-9]+", description.lower().replace("*", " star ")) if w]


def _has(tok: list[str], phrase: str) -> bool:
    words = phrase.split()
    return any(tok[i:i + len(words)] == words for i in range(len(tok) - len(words) + 1))


def phase_by_keyword(description: str) -> tuple[str | None, str]:
    """The MRI phase a description names, and the matched keyword; (None, why) when none or ambiguous."""
    tok = tokens(description)
    if not tok:
        return None, "no series description"
    excluded = [k for k in EXCLUDE_KEYWORDS if _has(tok, k)]
    if excluded:
        return None, f"excluded by keyword '{excluded[0]}'"
    hits = {}
    for phase, words in PHASE_KEYWORDS.items():
        found = [w for w in words if _has(tok, w)]
        if found:
            hits[phase] = max(found, key=len)
    if "AP" in hits and "DP" in hits and hits["DP"] == "late" and _has(tok, "late arterial"):
        hits.pop("DP")  # "late arterial" is arterial
    if "T2" in hits and len(hits) > 1:
        hits.pop("T2")  # a T1 phase series whose name mentions T2 is unusual; phase wins
    if len(hits) == 1:
        phase, word = next(iter(hits.items()))
        return phase, f"description keyword '{word}'"
    if not hits:
        return None, "no phase keyword in the description"
    return None, f"ambiguous description: keywords of {', '.join(sorted(hits))}"


def _is_dynamic_t1(description: str) -> bool:
    tok = tokens(description)
    return any(_has(tok, k) for k in ("t1", "vibe", "lava", "thrive", "ethrive", "dyn", "dynamic",
                                      "dixon", "mdixon", "fl3d", "fame", "quick", "gre", "tfe", "spgr",
                                      "caipi", "starvibe", "water", "w"))


def select_mri(series: list[Series], injection: datetime | None = None) -> tuple[dict[str, Series],
                                                                                    list[Decision]]:
    """Assign MR series to phases T2, AP, PVP, DP; one decision per MR series.

    Keyword matches come first. Unnamed (or ambiguously named) dynamic series are placed by
    acquisition time after the injection within :data:`PHASE_WINDOWS_S`; the injection is ``injection``,
    else a ContrastBolusStartTime, else estimated from a phase named by keyword (its time minus
    :data:`TYPICAL_DELAY_S`), else the unnamed series are taken in order (3: AP, PVP, DP; 4: the first
    is pre-contrast). When a phase has several candidates, a keyword match beats timing and then the
    latest acquired is kept (a repeated acquisition supersedes the first).
    """
    mr = [s for s in series if s.modality == "MR"]
    decisions: dict[str, Decision] = {}
    candidates: dict[str, list[tuple[Series, str, bool]]] = {p: [] for p in MRI_PHASES}
    unnamed: list[Series] = []
    for s in mr:
        phase, why = phase_by_keyword(s.description)
        if phase is not None:
            candidates[phase].append((s, why, True))
        elif (why.startswith("no phase keyword") and _is_dynamic_t1(s.description)) \
                or why.startswith("ambiguous"):
            unnamed.append(s)
            decisions[s.series_uid] = Decision(s, "", False, f"{why}; not placed by timing either")
        else:
            decisions[s.series_uid] = Decision(s, "", False, why)

    # Timing for unnamed dynamic series.
    if unnamed:
        inj = injection or next((i.bolus_start for s in unnamed for i in s.instances if i.bolus_start),
                                None)
        source = "injection"
        if inj is None:
            for phase, delay in TYPICAL_DELAY_S.items():
                named = [c[0].first_time for c in candidates[phase] if c[0].first_time is not None]
                if named:
                    inj = min(named) - timedelta(seconds=delay)
                    source = f"injection estimated from the {phase} series ({delay:.0f} s typical delay)"
                    break
        timed = sorted((s for s in unnamed if s.first_time is not None), key=lambda s: s.first_time)
        if inj is not None:
            for s in timed:
                dt = (s.first_time - inj).total_seconds()
                for phase, (lo, hi) in PHASE_WINDOWS_S.items():
                    if lo <= dt < hi:
                        candidates[phase].append((s, f"acquired {dt:.0f} s after {source} "
                                                     f"(window {lo:.0f}-{hi:.0f} s)", False))
                        break
                else:
                    decisions[s.series_uid] = Decision(
                        s, "", False, f"dynamic T1 acquired {dt:.0f} s after injection: no phase window")
        else:
            # Without an injection time, the order of the unnamed dynamics is all there is. With
            # exactly four, the first is taken as pre-contrast; with three, they are AP, PVP, DP.
            if len(timed) == 4:
                decisions[timed[0].series_uid] = Decision(timed[0], "", False,
                                                          "first of 4 unnamed dynamics: pre-contrast")
                timed = timed[1:]
            if len(timed) == 3:
                for s, phase in zip(timed, ("AP", "PVP", "DP")):
                    candidates[phase].append((s, "order of acquisition among 3 unnamed dynamics", False))
            else:
                for s in timed:
                    decisions[s.series_uid] = Decision(
                        s, "", False, f"{len(timed)} unnamed dynamic series and no injection time: "
                                      "phases cannot be told apart")

    chosen: dict[str, Series] = {}
    for phase, items in candidates.items():
        if not items:
            continue
        items.sort(key=lambda it: (it[2], it[0].first_time or datetime.min, it[0].n_frames))
        best, why, _ = items[-1]
        chosen[phase] = best
        decisions[best.series_uid] = Decision(best, f"mri:{phase}", True, why)
        for s, w, _ in items[:-1]:
            decisions[s.series_uid] = Decision(s, f"mri:{phase}", False,
                                               f"{w}; another {phase} series ranks first (keyword "
                                               "over timing, then the later acquisition)")
    return chosen, [decisions[s.series_uid] for s in mr]


def is_contrast_us(series: Series) -> bool:
    """Does the series say it is contrast-enhanced (agent, description or Image Type keyword)?"""
    if any(i.contrast_agent.strip() for i in series.instances):
        return True
    tok = tokens(series.description + " " + " ".join(series.instances[0].image_type))
    return any(_has(tok, k) for k in CEUS_KEYWORDS)


def select_ceus(series: list[Series]) -> tuple[list[Series], list[Decision]]:
    """The CEUS series of one study to build the timeline from, and a decision per US series."""
    us = [s for s in series if s.modality == "US"]
    decisions: dict[str, Decision] = {}
    cines = []
    for s in us:
        if all(i.n_frames <= 1 for i in s.instances):
            decisions[s.series_uid] = Decision(s, "", False, "single-frame US images, not a cine")
        elif not any(i.sop_class_uid in US_MULTIFRAME_SOP_CLASSES for i in s.instances):
            decisions[s.series_uid] = Decision(s, "", False, "not an ultrasound multi-frame image")
        else:
            cines.append(s)
    if any(is_contrast_us(s) for s in cines):
        for s in cines:
            if not is_contrast_us(s):
                decisions[s.series_uid] = Decision(s, "", False, "US cine without contrast (agent or "
                                                   "keyword) beside contrast cines")
        cines = [s for s in cines if is_contrast_us(s)]
    by_study: dict[str, list[Series]] = {}
    for s in cines:
        by_study.setdefault(s.study_uid, []).append(s)
    chosen: list[Series] = []
    if by_study:
        best_study = max(by_study, key=lambda k: (sum(s.n_frames for s in by_study[k]), k))
        chosen = by_study[best_study]
        for study, items in by_study.items():
            for s in items:
                if study == best_study:
                    decisions[s.series_uid] = Decision(s, "ceus", True, "US multi-frame cine")
                else:
                    decisions[s.series_uid] = Decision(s, "ceus", False, "another CEUS study of this "
                                                       "patient has more frames")
    return chosen, [decisions[s.series_uid] for s in us]
