"""``python -m credproc``: the console script's entry point, remembered answers included."""

from .script import run

if __name__ == "__main__":
    run()
