"""``python -m credproc``: the console script's entry point, remembered answers included."""

from .console import run

if __name__ == "__main__":
    run()
