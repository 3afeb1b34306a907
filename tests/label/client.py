"""Run MONAI Label's own Python client (the calls the 3D Slicer module makes) from .venv-label.

    python tests/label/client.py SERVER_URL info
    python tests/label/client.py SERVER_URL infer MODEL IMAGE_ID PARAMS_JSON OUT_FILE
    python tests/label/client.py SERVER_URL save IMAGE_ID LABEL_FILE TAG PARAMS_JSON
    python tests/label/client.py SERVER_URL train MODEL PARAMS_JSON TIMEOUT_S   (waits for the end)

Prints one JSON object: the info, or the infer's params plus the label written to OUT_FILE.
"""

import json
import shutil
import sys
import time

from monailabel.client import MONAILabelClient


def main(argv: list[str]) -> None:
    client = MONAILabelClient(server_url=argv[0])
    if argv[1] == "info":
        print(json.dumps(client.info()))
    elif argv[1] == "infer":
        model, image_id, params, out = argv[2], argv[3], json.loads(argv[4]), argv[5]
        label, result = client.infer(model, image_id, params, file=None, label_in=None)
        shutil.move(label, out)  # the client downloads into /tmp whatever TMPDIR says
        print(json.dumps({"label": out, "params": result}))
    elif argv[1] == "save":
        image_id, label, tag, params = argv[2], argv[3], argv[4], json.loads(argv[5])
        print(json.dumps(client.save_label(image_id, label, tag=tag, params=params)))
    elif argv[1] == "train":
        model, params, timeout = argv[2], json.loads(argv[3]), float(argv[4])
        client.train_start(model, params)
        deadline = time.time() + timeout
        while (status := client.train_status()).get("status") in ("SUBMITTED", "RUNNING") and time.time() < deadline:
            time.sleep(2)
        print(json.dumps(status))
    else:
        raise SystemExit(f"unknown command {argv[1]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
