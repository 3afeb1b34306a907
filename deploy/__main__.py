import os
import sys

if len(sys.argv) > 1 and sys.argv[1] == "serve":  # python -m deploy serve ...: the PACS service
    from deploy.service import main as serve

    serve(sys.argv[2:])
else:  # python -m deploy -i IN -o OUT: one study folder (CEUS or MRI)
    from deploy import DEFAULT_BUNDLE, check_bundles
    from operators.mri_core import DEFAULT_MRI_BUNDLE

    # Without any model the app fails in a second, before the SDK (holoscan) is imported; the model the
    # study needs (CEUS or MRI) is checked once its series are known (deploy.app compose).
    kinds, problems = check_bundles(os.environ.get("HCCRISK_BUNDLE", DEFAULT_BUNDLE),
                                    os.environ.get("HCCRISK_MRI_BUNDLE", DEFAULT_MRI_BUNDLE))
    if not kinds:
        sys.exit("error: " + "\nerror: ".join(str(p) for p in problems))
    from deploy.app import main

    main()
