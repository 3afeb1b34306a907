"""Coded concepts of the result objects: standard codes (SCT, DCM, LOINC, UCUM) where one exists, and
hccrisk's private scheme ``99HCCRISK`` (declared in each SR's Coding Scheme Identification) where none
does (the model-specific scores)."""

from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd

PRIVATE_SCHEME = "99HCCRISK"  #: coding scheme designator of hccrisk's own concepts


def private(value: str, meaning: str) -> hd.sr.CodedConcept:
    """A concept of hccrisk's private coding scheme."""
    return hd.sr.CodedConcept(value, PRIVATE_SCHEME, meaning)


def ucum(unit: str, meaning: str | None = None) -> hd.sr.CodedConcept:
    """A UCUM unit (code value = code meaning unless given)."""
    return hd.sr.CodedConcept(unit, "UCUM", meaning or unit)


NO_UNITS = ucum("1", "no units")

# The report's content.
RISK_OF_EARLY_RECURRENCE = private("ER-RISK", "Predicted probability of early recurrence")
IMAGING_SIGNATURE = private("IMG-SIG", "Imaging signature")
RISK_CUTOFF = private("ER-CUTOFF", "Risk group cut-off")
RISK_GROUP = private("ER-GROUP", "Risk group of early recurrence")
NOMOGRAM_STATUS = private("NOMO-STATUS", "Nomogram status")
NOT_COMPUTED = private("NOT-COMPUTED", "Not computed")  # why: the "Value missing" items, or no nomogram
COMPUTED = private("COMPUTED", "Computed")
MISSING_VALUE = private("MISSING", "Value missing")
HIGH = hd.sr.CodedConcept("75540009", "SCT", "High")
LOW = hd.sr.CodedConcept("62482003", "SCT", "Low")
HCC = hd.sr.CodedConcept("25370001", "SCT", "Hepatocellular carcinoma")
LIVER = hd.sr.CodedConcept("10200004", "SCT", "Liver")
ABDOMINAL_US = hd.sr.CodedConcept("45036003", "SCT", "Ultrasonography of abdomen")
ABDOMINAL_MRI = hd.sr.CodedConcept("241633003", "SCT", "Magnetic resonance imaging of abdomen")
IMAGING_MEASUREMENT_REPORT = hd.sr.CodedConcept("126000", "DCM", "Imaging Measurement Report")


@dataclass(frozen=True)
class ClinicalVariable:
    """One clinical input as it goes into the SR: the clinical.csv column, its concept and unit."""

    column: str
    name: hd.sr.CodedConcept
    unit: hd.sr.CodedConcept


def _lab(column: str, loinc: str, meaning: str, unit: hd.sr.CodedConcept) -> ClinicalVariable:
    return ClinicalVariable(column, hd.sr.CodedConcept(loinc, "LN", meaning), unit)


#: Numeric clinical variables (docs/architecture.md clinical.csv) with LOINC names and UCUM units.
CLINICAL_NUMERIC: dict[str, ClinicalVariable] = {v.column: v for v in [
    _lab("age", "30525-0", "Age", ucum("a", "year")),
    _lab("afp", "1834-1", "Alpha-1-Fetoprotein [Mass/volume] in Serum or Plasma", ucum("ng/mL", "nanogram per milliliter")),
    _lab("alb", "1751-7", "Albumin [Mass/volume] in Serum or Plasma", ucum("g/L", "gram per liter")),
    _lab("ast", "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum", ucum("U/L", "unit per liter")),
    _lab("alt", "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum", ucum("U/L", "unit per liter")),
    _lab("ggt", "2324-2", "Gamma glutamyl transferase [Enzymatic activity/volume] in Serum", ucum("U/L", "unit per liter")),
    _lab("tbil", "14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma", ucum("umol/L", "micromole per liter")),
    _lab("pt", "5902-2", "Prothrombin time (PT)", ucum("s", "second")),
    _lab("plt", "777-3", "Platelets [#/volume] in Blood by Automated count", ucum("10*9/L", "billion per liter")),
    _lab("wbc", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", ucum("10*9/L", "billion per liter")),
    ClinicalVariable("tumour_size", hd.sr.CodedConcept("81827009", "SCT", "Diameter"), ucum("cm", "centimeter")),
    ClinicalVariable("tumour_number", private("TUMOUR-NUMBER", "Number of tumours (3 = three or more)"),
                     ucum("{tumors}", "tumors")),
]}

#: Categorical clinical variables: the name concept; values are written as private codes ``<column>=<value>``.
CLINICAL_CATEGORICAL: dict[str, hd.sr.CodedConcept] = {
    "sex": hd.sr.CodedConcept("184100006", "SCT", "Patient sex"),
    "hbv": private("HBV", "Hepatitis B virus infection (1 yes, 0 no)"),
    "cirrhosis": private("CIRRHOSIS", "Cirrhosis (1 yes, 0 no)"),
    "child_pugh": private("CHILD-PUGH", "Child-Pugh class"),
    "treatment": private("TREATMENT", "Treatment (RFA or SR)"),
    "bclc": private("BCLC", "BCLC stage"),
}


def categorical_value(column: str, value: str) -> hd.sr.CodedConcept:
    """The coded value of a categorical clinical input (private: no standard code covers them all)."""
    return private(f"{column}={value}".upper()[:16], f"{column} {value}")


def clinical_concept(column: str) -> hd.sr.CodedConcept:
    """The concept naming a clinical input column (raises KeyError for an unknown column)."""
    if column in CLINICAL_NUMERIC:
        return CLINICAL_NUMERIC[column].name
    return CLINICAL_CATEGORICAL[column]
