"""Run by tests/nets/test_bundle.py with the MONAI Deploy venv: load each CEUS bundle (folders given as
arguments) the way MonaiBundleInferenceOperator does (configs common + inference, models/model.ts) and print,
as one JSON line, the loaded module's type, the phases, the pre-processing transforms and the logits of a
seeded random input (the test compares them with the eager network)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from monai.deploy.core import AppContext, Fragment, IOType
from monai.deploy.operators.monai_bundle_inference_operator import (BundleConfigNames, IOMapping,
                                                                     MonaiBundleInferenceOperator,
                                                                     _load_model_from_directory_bundle)


def main(bundle: Path) -> None:
    op = MonaiBundleInferenceOperator(
        Fragment(), app_context=AppContext({}), bundle_path=bundle,
        input_mapping=[IOMapping("image", torch.Tensor, IOType.IN_MEMORY)],
        output_mapping=[IOMapping("pred", torch.Tensor, IOType.IN_MEMORY)],
        bundle_config_names=BundleConfigNames(config_names=["common", "inference"]))
    # What the operator does on its first compute() for a folder bundle: parse the configs, load the model.
    op._init_config(op._bundle_config_names.config_names)
    net = _load_model_from_directory_bundle(bundle, torch.device("cpu"), op.parser)
    phases = op.parser.get_parsed_content("phases")
    torch.manual_seed(1)
    x = torch.rand(2, len(phases), 8, 64, 64)
    with torch.no_grad():
        logits = net(x)
    print(json.dumps({"type": type(net).__name__, "phases": phases,
                      "preprocessing": [type(t).__name__ for t in op._preproc.transforms],
                      "logits": logits.tolist()}))


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        main(Path(folder))
