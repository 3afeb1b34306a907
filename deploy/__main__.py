import sys

if len(sys.argv) > 1 and sys.argv[1] == "serve":  # python -m deploy serve ...: the PACS service
    from deploy.service import main as serve

    serve(sys.argv[2:])
else:  # python -m deploy -i IN -o OUT: one study folder
    from deploy.app import main

    main()
