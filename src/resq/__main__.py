"""``python -m resq``: the ``resq`` command, for when the console script is not on PATH."""

from resq._console import main

if __name__ == "__main__":
    main()
