from r1data.cli import main

# The guard matters: datatrove's local executor starts workers with forkserver, which imports
# the main module again; unguarded, `python -m r1data` would rerun the command in each worker.
if __name__ == "__main__":
    main()
