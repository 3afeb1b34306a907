import os
import sys

if len(sys.argv) > 1 and sys.argv[1] == "serve":  # python -m deploy serve ...: the PACS service
    from deploy.service import main as serve

    serve(sys.argv[2:])
else:  # python -m deploy -i IN -o OUT: one study folder
    from deploy import DEFAULT_BUNDLE
    from hccrisk.errors import HccriskError
    from operators.inference_core import check_bundle

    try:  # a missing model fails in a second, before the SDK (holoscan) is imported
        check_bundle(os.environ.get("HCCRISK_BUNDLE", DEFAULT_BUNDLE))
    except HccriskError as exc:
        sys.exit(f"error: {exc}")
    from deploy.app import main

    main()
