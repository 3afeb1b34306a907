"""Scanner conventions of the three synthetic MR "vendors" (equipment names are in
``hccrisk.synth.common.EQUIPMENT``): series naming, sequence parameters, stored pixel format and
intensity scaling, series numbering, slice order and obliquity, and the protocol's slice geometry.

The vendors mimic real conventions without their names: A names its series like Siemens
("t1_vibe_fs_tra_art"), B like Philips with Rescale Slope ("e-THRIVE ART", "T2W_SPAIR") or a
site-defined "AX DYN 30s", C like GE ("LAVA ART", "PVP 70s", "DELAY 3min") with overlapping slices.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Per vendor, alternative naming styles (a site's protocol; one is drawn per study).
SERIES_NAMES: dict[str, tuple[dict[str, str], ...]] = {
    "A": (
        {"T2": "t2_tse_fs_tra", "AP": "t1_vibe_fs_tra_art", "PVP": "t1_vibe_fs_tra_pv",
         "DP": "t1_vibe_fs_tra_delay"},
        {"T2": "t2_haste_fs_tra_mbh", "AP": "t1_vibe_fs_tra_dyn_30s", "PVP": "t1_vibe_fs_tra_dyn_70s",
         "DP": "t1_vibe_fs_tra_dyn_3min"},
    ),
    "B": (
        {"T2": "T2W_SPAIR", "AP": "e-THRIVE ART", "PVP": "e-THRIVE PVP", "DP": "e-THRIVE DELAY 3min"},
        {"T2": "T2 FS TRA", "AP": "AX DYN 30s", "PVP": "AX DYN 70s", "DP": "AX DYN 180s"},
    ),
    "C": (
        {"T2": "Ax T2 FRFSE FS", "AP": "LAVA ART", "PVP": "LAVA PVP 70s", "DP": "LAVA DELAY 3min"},
        {"T2": "AX T2 SSFSE FS", "AP": "Ax LAVA-Flex ART", "PVP": "PVP 70s", "DP": "DELAY 3min"},
    ),
}


@dataclass(frozen=True)
class Sequence:
    """MR Image module values of one sequence type."""

    scanning_sequence: str
    sequence_variant: str
    scan_options: str
    acquisition_type: str  # "2D" / "3D"
    sequence_name: str
    repetition_ms: float
    echo_ms: float
    echo_train: int
    flip_deg: float
    bandwidth_hz: float


@dataclass(frozen=True)
class Vendor:
    """Everything that differs between the vendors' MR series."""

    field_t: float
    t2: Sequence
    dynamic: Sequence
    image_type: tuple[str, ...]
    bits_stored: int
    signed: bool
    gain: float  # stored value of signal 1.0 (before per-series auto-scaling)
    rescale: bool  # stores values * 1/slope and writes RescaleSlope/Intercept
    series_numbers: tuple[int, int, int, int]  # T2, AP, PVP, DP
    head_first_numbering: bool  # InstanceNumber 1 = most cranial slice
    oblique_probability: float
    fov_mm: tuple[int, ...]  # square FOVs the site uses (mm), default size / realistic / small size
    fov_realistic_mm: tuple[int, ...]
    fov_small_mm: tuple[int, ...]  # multiples of 3: FOV / 96 stays a binary fraction (exact spacing)
    # (slice spacing, thickness) of the dynamic and T2 series, default, realistic and small sizes.
    dynamic_slices: tuple[float, float]
    dynamic_slices_realistic: tuple[float, float]
    dynamic_slices_small: tuple[float, float]
    t2_slices: tuple[float, float]
    t2_slices_realistic: tuple[float, float]
    t2_slices_small: tuple[float, float]
    coil: str
    contrast_agent: str
    agent_concentration_mg_ml: float
    noise_sigma: float  # Rician noise sd, in signal units, of the dynamic series (T2: 0.6 x)

    def protocol(self, size: str) -> tuple[tuple[int, ...], tuple[float, float], tuple[float, float]]:
        """(FOV choices in mm, dynamic (slice spacing, thickness) mm, T2 (spacing, thickness) mm) of a size preset."""
        return {"default": (self.fov_mm, self.dynamic_slices, self.t2_slices),
                "realistic": (self.fov_realistic_mm, self.dynamic_slices_realistic, self.t2_slices_realistic),
                "small": (self.fov_small_mm, self.dynamic_slices_small, self.t2_slices_small)}[size]


VENDORS: dict[str, Vendor] = {
    "A": Vendor(
        field_t=1.5,
        t2=Sequence("SE", "SK\\SP\\OSP", "FS\\PFP", "2D", "*tse2d1_17", 3800.0, 84.0, 17, 150.0, 260.0),
        dynamic=Sequence("GR", "SP\\OSP", "FS", "3D", "*fl3d1", 4.1, 1.7, 1, 10.0, 400.0),
        image_type=("ORIGINAL", "PRIMARY", "M", "ND", "NORM"), bits_stored=12, signed=False, gain=650.0,
        rescale=False, series_numbers=(4, 9, 10, 11), head_first_numbering=False,
        oblique_probability=0.4, fov_mm=(180, 190), fov_realistic_mm=(360, 380), fov_small_mm=(144, 150),
        dynamic_slices=(4.0, 4.0), dynamic_slices_realistic=(3.0, 3.0), dynamic_slices_small=(5.0, 5.0),
        t2_slices=(5.0, 5.0), t2_slices_realistic=(5.0, 5.0), t2_slices_small=(6.0, 6.0), coil="Body_18",
        contrast_agent="Gd-DTPA (Magnevist)", agent_concentration_mg_ml=469.0, noise_sigma=0.032),
    "B": Vendor(
        field_t=3.0,
        t2=Sequence("SE", "SK", "FS", "2D", "TSE", 2500.0, 80.0, 21, 90.0, 290.0),
        dynamic=Sequence("GR", "SP", "FS", "3D", "T1FFE", 3.2, 1.5, 1, 10.0, 650.0),
        image_type=("ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"), bits_stored=12, signed=False,
        gain=1600.0, rescale=True, series_numbers=(501, 801, 901, 1001), head_first_numbering=True,
        oblique_probability=0.0, fov_mm=(180, 192), fov_realistic_mm=(370, 384), fov_small_mm=(144, 153),
        dynamic_slices=(4.0, 4.0), dynamic_slices_realistic=(2.5, 2.5), dynamic_slices_small=(5.0, 5.0),
        t2_slices=(5.0, 5.5), t2_slices_realistic=(5.0, 5.5), t2_slices_small=(6.0, 6.5), coil="SENSE-Torso",
        contrast_agent="Gadobutrol (Gadovist)", agent_concentration_mg_ml=604.72, noise_sigma=0.024),
    "C": Vendor(
        field_t=3.0,
        t2=Sequence("SE", "SK\\OSP", "FAST_GEMS\\FS", "2D", "frfse", 6000.0, 88.0, 20, 110.0, 325.5),
        dynamic=Sequence("GR", "SS\\SK", "FAST_GEMS\\FS", "3D", "efgre3d", 3.9, 1.8, 1, 12.0, 488.3),
        image_type=("ORIGINAL", "PRIMARY", "OTHER"), bits_stored=16, signed=True, gain=900.0,
        rescale=False, series_numbers=(3, 7, 8, 9), head_first_numbering=True,
        oblique_probability=0.0, fov_mm=(176, 184), fov_realistic_mm=(360, 380), fov_small_mm=(141, 147),
        # GE LAVA reconstructs overlapping slices ("ZIP2"): spacing half the thickness.
        dynamic_slices=(4.0, 5.0), dynamic_slices_realistic=(2.5, 5.0), dynamic_slices_small=(5.0, 6.0),
        t2_slices=(6.0, 6.0), t2_slices_realistic=(5.0, 6.0), t2_slices_small=(7.0, 7.0), coil="32Ch Body",
        contrast_agent="Gd-DTPA", agent_concentration_mg_ml=469.0, noise_sigma=0.026),
}

#: Slices and matrix of each size preset: (matrix, dynamic slices, T2 matrix, T2 slices). "small" (CI
#: science checks) covers ~60 % of the default volume: its 1 mm ingest grid, hence the ingest, is ~half.
SIZES: dict[str, tuple[int, int, int, int]] = {
    "default": (128, 32, 128, 26),
    "realistic": (256, 72, 256, 40),
    "small": (96, 20, 96, 15),
}


def vendor(name: str) -> Vendor:
    """The MR conventions of vendor ``name`` ("A", "B" or "C")."""
    try:
        return VENDORS[name]
    except KeyError:
        raise ValueError(f"unknown MR vendor {name!r}; expected one of {sorted(VENDORS)}") from None
