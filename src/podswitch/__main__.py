from podswitch.cli.main import main

main()
