import os
import sys

if len(sys.argv) > 1 and sys.argv[1] == "serve":  # python -m deploy serve ...: the PACS service
    from deploy.service import main as serve

    serve(sys.argv[2:])
else:  # python -m deploy -i IN -o OUT: one study folder (CEUS or MRI)
    from pathlib import Path

    from deploy import DEFAULT_BUNDLE
    from hccrisk.errors import HccriskError
    from operators.inference_core import check_bundle
    from operators.mri_core import DEFAULT_MRI_BUNDLE, check_mri_bundle

    # Without any model the app fails in a second, before the SDK (holoscan) is imported; the model the
    # study needs (CEUS or MRI) is checked once its series are known (deploy.app compose).
    problems = []
    for check, bundle in ((check_bundle, os.environ.get("HCCRISK_BUNDLE", DEFAULT_BUNDLE)),
                          (check_mri_bundle, os.environ.get("HCCRISK_MRI_BUNDLE", DEFAULT_MRI_BUNDLE))):
        try:
            check(Path(bundle))
        except HccriskError as exc:
            problems.append(str(exc))
    if len(problems) == 2:
        sys.exit("error: " + "\nerror: ".join(problems))
    from deploy.app import main

    main()
