"""``hstgw completion bash|zsh|fish``: a completion script made from the parser tree.

Each script holds the same table: for every command path (``hstgw/app/create``)
its subcommands and its options, with their choices; an option's value is
completed from its choices, ``--data-dir`` with directories. The shell finds the
path by walking the words typed so far. Nothing is generated at completion time,
so a completion costs no Python start.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from hstgw.cli._parser import leaves, subcommands

__all__ = ["register", "script"]

SHELLS = ("bash", "zsh", "fish")
_DIRECTORY_OPTIONS = {"--data-dir"}


@dataclass(frozen=True, slots=True)
class _Option:
    flags: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Node:
    path: str  # "hstgw/app/create"
    commands: tuple[tuple[str, str], ...]  # (name, help)
    options: tuple[_Option, ...]


def register(sub: Any, root: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description="Prints a completion script for hstgw. bash: "
        'eval "$(hstgw completion bash)" in ~/.bashrc; zsh: '
        'eval "$(hstgw completion zsh)" in ~/.zshrc (after compinit); fish: '
        "hstgw completion fish > ~/.config/fish/completions/hstgw.fish",
    )
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(run=lambda args: _print(script(root, args.shell)))


def _print(text: str) -> int:
    sys.stdout.write(text)
    return 0


def _help(text: str | None) -> str:
    return " ".join((text or "").replace("%(default)s", "").split())


def _nodes(root: argparse.ArgumentParser) -> list[_Node]:
    out = []
    for path, parser in leaves(root):
        helps: dict[str, str] = {}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: _help(a.help) for a in action._choices_actions}
        options = tuple(
            _Option(
                tuple(a.option_strings),
                _help(a.help),
                a.nargs != 0,
                tuple(str(c) for c in a.choices or ()),
            )
            for a in parser._actions
            if a.option_strings and a.help != argparse.SUPPRESS
        )
        commands = tuple((name, helps.get(name, "")) for name in subcommands(parser))
        # a positional with choices (completion SHELL) completes like a command
        for a in parser._actions:
            if not a.option_strings and a.choices and not subcommands(parser):
                commands += tuple((str(c), "") for c in a.choices)
        out.append(_Node("/".join(("hstgw", *path)), commands, options))
    return out


def script(root: argparse.ArgumentParser, shell: str) -> str:
    nodes = _nodes(root)
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](nodes)


def _value_cases(nodes: list[_Node], indent: str, reply: str) -> list[str]:
    """``case "$cmd_path $prev"`` arms: an option's choices, in bash/zsh syntax."""
    lines = []
    for node in nodes:
        for o in node.options:
            if o.choices:
                pattern = "|".join(shlex.quote(f"{node.path} {f}") for f in o.flags)
                lines.append(f"{indent}{pattern}) {reply.format(' '.join(o.choices))}; return;;")
    return lines


def _bash(nodes: list[_Node]) -> str:
    paths = " ".join(n.path for n in nodes)
    words = []
    for n in nodes:
        all_words = [c for c, _ in n.commands] + [f for o in n.options for f in o.flags]
        words.append(f"        {n.path}) words={shlex.quote(' '.join(all_words))};;")
    values = _value_cases(nodes, "        ", 'COMPREPLY=($(compgen -W "{}" -- "$cur"))')
    return "\n".join(
        [
            "# bash completion for hstgw; made by `hstgw completion bash`",
            "_hstgw() {",
            '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
            '    local cmd_path=hstgw words="" i',
            f'    local paths=" {paths} "',
            "    for ((i = 1; i < COMP_CWORD; i++)); do",
            '        if [[ $paths == *" $cmd_path/${COMP_WORDS[i]} "* ]]; then',
            '            cmd_path="$cmd_path/${COMP_WORDS[i]}"',
            "        fi",
            "    done",
            '    case "$cmd_path $prev" in',
            *values,
            "    esac",
            '    case "$prev" in',
            '        --data-dir) COMPREPLY=($(compgen -d -- "$cur")); return;;',
            f"        {_free_values(nodes)}) return;;",
            "    esac",
            '    case "$cmd_path" in',
            *words,
            "    esac",
            '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
            "}",
            "complete -F _hstgw hstgw",
            "",
        ]
    )


def _zsh_item(name: str, help: str) -> str:
    escaped = name.replace(":", "\\:")
    return shlex.quote(f"{escaped}:{help}" if help else name)


def _free_values(nodes: list[_Node]) -> str:
    """Options whose value is anything (a name, an id): nothing to offer after them."""
    flags = {
        f
        for n in nodes
        for o in n.options
        if o.takes_value and not o.choices and not set(o.flags) & _DIRECTORY_OPTIONS
        for f in o.flags
    }
    return "|".join(sorted(flags))


def _zsh(nodes: list[_Node]) -> str:
    paths = " ".join(n.path for n in nodes)
    arms = []
    for n in nodes:
        commands = " ".join(_zsh_item(c, h) for c, h in n.commands)
        options = " ".join(_zsh_item(f, o.help) for o in n.options for f in o.flags)
        arms.append(f"        {n.path}) subcommands=({commands}); flags=({options});;")
    values = _value_cases(nodes, "        ", "compadd -- {}")
    return "\n".join(
        [
            "#compdef hstgw",
            "# zsh completion for hstgw; made by `hstgw completion zsh`",
            "_hstgw() {",
            "    local cmd_path=hstgw prev=${words[CURRENT-1]} i",
            "    local -a subcommands flags  # not $commands, $options: zsh's own",
            f'    local paths=" {paths} "',
            "    for ((i = 2; i < CURRENT; i++)); do",
            '        if [[ $paths == *" $cmd_path/${words[i]} "* ]]; then',
            '            cmd_path="$cmd_path/${words[i]}"',
            "        fi",
            "    done",
            '    case "$cmd_path $prev" in',
            *values,
            "    esac",
            '    case "$prev" in',
            "        --data-dir) _files -/; return;;",
            f"        {_free_values(nodes)}) _message value; return;;",
            "    esac",
            '    case "$cmd_path" in',
            *arms,
            "    esac",
            "    if [[ $PREFIX == -* ]]; then",
            "        _describe -t options option flags",
            "    else",
            "        _describe -t commands command subcommands",
            "    fi",
            "}",
            "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then",
            '    _hstgw "$@"',
            "else",
            "    compdef _hstgw hstgw",
            "fi",
            "",
        ]
    )


def _fish(nodes: list[_Node]) -> str:
    paths = " ".join(n.path for n in nodes)
    lines = [
        "# fish completion for hstgw; made by `hstgw completion fish`",
        f"set -g __hstgw_paths {paths}",
        "function __hstgw_at",
        "    set -l cmd_path hstgw",
        "    for w in (commandline -opc)[2..-1]",
        '        if contains -- "$cmd_path/$w" $__hstgw_paths',
        '            set cmd_path "$cmd_path/$w"',
        "        end",
        "    end",
        '    test "$cmd_path" = "$argv[1]"',
        "end",
        "complete -c hstgw -f",
    ]
    for n in nodes:
        at = shlex.quote(f"__hstgw_at {n.path}")
        for name, help in n.commands:
            lines.append(f"complete -c hstgw -n {at} -a {shlex.quote(name)} -d {shlex.quote(help)}")
        for o in n.options:
            flags = " ".join(
                f"-l {shlex.quote(f[2:])}" if f.startswith("--") else f"-s {shlex.quote(f[1:])}"
                for f in o.flags
            )
            value = ""
            if o.choices:
                value = f" -x -a {shlex.quote(' '.join(o.choices))}"
            elif set(o.flags) & _DIRECTORY_OPTIONS:
                value = " -x -a '(__fish_complete_directories)'"
            elif o.takes_value:
                value = " -r"
            lines.append(f"complete -c hstgw -n {at} {flags}{value} -d {shlex.quote(o.help)}")
    return "\n".join(lines) + "\n"
