from clonecast.cli import main

main()
