import sys

from hetflow.commands.main import main

if __name__ == "__main__":
    sys.exit(main())
