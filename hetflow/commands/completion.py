"""``hetflow completion bash|zsh|fish``: a shell completion script, made from the parser.

The script is written from the very argument parser the commands use, so a new
command or option completes as soon as it exists.  Install it with, for example::

    hetflow completion bash > ~/.local/share/bash-completion/completions/hetflow
    hetflow completion zsh > "${fpath[1]}/_hetflow"
    hetflow completion fish > ~/.config/fish/completions/hetflow.fish
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for a shell; e.g. "
        "hetflow completion bash > ~/.local/share/bash-completion/completions/hetflow",
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell: bash, zsh or fish")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.commands.main import build_parser

    tree = command_tree(build_parser())
    print({"bash": bash, "zsh": zsh, "fish": fish}[args.shell](tree), end="")
    return 0


class Command:
    """One (sub)command: its options, the choices an option takes, subcommands."""

    def __init__(self, parser: argparse.ArgumentParser, help_text: str = ""):
        self.help = help_text
        self.options: list[tuple[str, str, tuple[str, ...] | None, bool]] = []
        self.subcommands: dict[str, Command] = {}
        self.positional_choices: tuple[str, ...] = ()
        self.files = False
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help or "" for a in action._choices_actions}
                for name, sub in action.choices.items():
                    self.subcommands[name] = Command(sub, helps.get(name, ""))
            elif action.option_strings:
                takes = action.nargs != 0
                choices = tuple(map(str, action.choices)) if action.choices else None
                for flag in action.option_strings:
                    self.options.append((flag, action.help or "", choices, takes))
            elif action.choices:
                self.positional_choices = tuple(map(str, action.choices))
            else:
                self.files = True


def command_tree(parser: argparse.ArgumentParser) -> Command:
    return Command(parser)


def _walk(cmd: Command, path: tuple[str, ...] = ()):
    yield path, cmd
    for name, sub in cmd.subcommands.items():
        yield from _walk(sub, path + (name,))


def _q(text: str) -> str:
    return text.replace("'", "'\\''")


def bash(tree: Command) -> str:
    cases = []
    for path, cmd in _walk(tree):
        key = " ".join(path)
        words = [f for f, *_ in cmd.options] + list(cmd.subcommands) + list(cmd.positional_choices)
        valued = [f for f, _, _, takes in cmd.options if takes]
        choices = [
            f"            {flag}) COMPREPLY=($(compgen -W '{' '.join(c)}' -- \"$cur\")); return;;"
            for flag, _, c, _ in cmd.options
            if c
        ]
        cases.append(
            f"        '{key}')\n"
            f"            words='{' '.join(words)}'; valued='{' '.join(valued)}'; "
            f"files={int(cmd.files)}\n"
            + (
                '            case "$prev" in\n' + "\n".join(choices) + "\n            esac\n"
                if choices
                else ""
            )
            + "            ;;"
        )
    return f"""# bash completion for hetflow (hetflow completion bash)
_hetflow() {{
    local cur prev path="" word words valued files i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        case "$word" in -*) continue;; esac
        case " $(_hetflow_subcommands "$path") " in
            *" $word "*) path="${{path:+$path }}$word";;
        esac
    done
    case "$path" in
{chr(10).join(cases)}
    esac
    if [[ " $valued " == *" $prev "* ]]; then
        COMPREPLY=($(compgen -f -- "$cur")); return
    fi
    if [[ "$cur" == -* || $files == 0 ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur")); return
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur") $(compgen -f -- "$cur"))
}}
_hetflow_subcommands() {{
    case "$1" in
{chr(10).join(f"        '{' '.join(p)}') echo '{' '.join(c.subcommands)}';;" for p, c in _walk(tree))}
    esac
}}
complete -o filenames -F _hetflow hetflow
"""


def zsh(tree: Command) -> str:
    funcs = []
    for path, cmd in _walk(tree):
        name = "_hetflow" + "".join(f"_{p.replace('-', '_')}" for p in path)
        specs = []
        for flag, help_text, choices, takes in cmd.options:
            desc = _q(help_text.replace("[", "(").replace("]", ")").replace(":", ";"))
            if takes:
                action = f"({' '.join(choices)})" if choices else "_files"
                specs.append(f"'{flag}[{desc}]:value:{action}'")
            else:
                specs.append(f"'{flag}[{desc}]'")
        if cmd.subcommands:
            listing = " ".join(
                f"'{n}:{_q(c.help.replace(':', ';'))}'" for n, c in cmd.subcommands.items()
            )
            specs.append("'1:command:->command'")
            specs.append("'*::arg:->args'")
            body = (
                f"    local line state\n    _arguments -C {' '.join(specs)}\n"
                f"    case $state in\n"
                f"        command) local -a cmds; cmds=({listing}); "
                f"_describe 'command' cmds;;\n"
                f"        args) case $line[1] in\n"
                + "\n".join(
                    f"            {n}) {name}_{n.replace('-', '_')};;" for n in cmd.subcommands
                )
                + "\n        esac;;\n    esac"
            )
        else:
            if cmd.positional_choices:
                specs.append(f"'1:value:({' '.join(cmd.positional_choices)})'")
            elif cmd.files:
                specs.append("'*:file:_files'")
            body = f"    _arguments {' '.join(specs)}"
        funcs.append(f"{name}() {{\n{body}\n}}")
    return "#compdef hetflow\n# zsh completion for hetflow (hetflow completion zsh)\n\n" + (
        "\n\n".join(funcs) + '\n\n_hetflow "$@"\n'
    )


def fish(tree: Command) -> str:
    lines = ["# fish completion for hetflow (hetflow completion fish)", "complete -c hetflow -f"]
    for path, cmd in _walk(tree):
        if not path:
            cond = "__fish_use_subcommand"
        else:
            cond = " && ".join(f"__fish_seen_subcommand_from {p}" for p in path)
        listing = cond
        if path and cmd.subcommands:
            listing += f" && not __fish_seen_subcommand_from {' '.join(cmd.subcommands)}"
        for name, sub in cmd.subcommands.items():
            lines.append(f"complete -c hetflow -n '{listing}' -a {name} -d '{_q(sub.help)}'")
        for flag, help_text, choices, takes in cmd.options:
            opt = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            extra = ""
            if takes:
                extra = f" -x -a '{' '.join(choices)}'" if choices else " -r -F"
            lines.append(f"complete -c hetflow -n '{cond}' {opt}{extra} -d '{_q(help_text)}'")
        if path and cmd.positional_choices:
            lines.append(f"complete -c hetflow -n '{cond}' -a '{' '.join(cmd.positional_choices)}'")
        if path and cmd.files and not cmd.subcommands:
            lines.append(f"complete -c hetflow -n '{cond}' -F")
    return "\n".join(lines) + "\n"
