from r1data.cli import main

main()
