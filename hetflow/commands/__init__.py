"""One module per `hetflow` subcommand; each has ``register(subparsers)``."""
