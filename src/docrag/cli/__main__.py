"""``python -m docrag.cli``."""

from docrag.cli.main import main

if __name__ == "__main__":
    main()
