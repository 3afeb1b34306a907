from deploy.app import main

main()
