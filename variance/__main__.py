from variance.cli.main import main

main()
