"""Argument groups shared by several commands, the ``--config`` file, and conversion to option dataclasses.

Precedence, highest first: a flag typed on the command line, the command's own section
of the config file (``[live]``, ``[photo]``...), the shared sections (``[effect]``,
``[model]``, ``[matte]``), the dataclass defaults.  :func:`apply_config` does the
merge once, right after parsing, so every command reads plain ``args`` attributes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from ..config import (
    QUALITIES,
    SHARED_SECTIONS,
    Config,
    EffectOptions,
    MatteOptions,
    SegmenterOptions,
    check_section,
    load_config,
)
from ..errors import ConfigError

T = TypeVar("T")

CONFIG_ATTR = "loaded_config"
"""Name of the ``args`` attribute that holds the :class:`~livebokeh.config.Config` in use."""

_EFFECT = EffectOptions()
_MODEL = SegmenterOptions()
_MATTE = MatteOptions()


def add_effect_args(parser: argparse.ArgumentParser) -> None:
    """``--effect``, ``--strength``, ``--falloff`` (defaults from :class:`EffectOptions`)."""
    g = parser.add_argument_group("effect")
    g.add_argument(
        "--effect",
        default=_EFFECT.effect,
        help=f"blur, bokeh, replace:IMAGE_OR_VIDEO, color:#RRGGBB, mask or none (default: {_EFFECT.effect})",
    )
    g.add_argument(
        "--strength",
        type=float,
        default=_EFFECT.strength,
        help=f"blur strength 0-1, relative to frame height (default {_EFFECT.strength})",
    )
    g.add_argument(
        "--falloff",
        action=argparse.BooleanOptionalAction,
        default=_EFFECT.falloff,
        help="blur grows with distance from the person (depth-like)",
    )


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--threads``, ``--person-class`` (defaults from :class:`SegmenterOptions`)."""
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        default=_MODEL.model,
        help="auto, a bundled model name (see `livebokeh models`) or a .tflite/.pb path",
    )
    g.add_argument("--threads", type=int, default=_MODEL.threads, help=f"inference threads (default {_MODEL.threads})")
    g.add_argument(
        "--person-class", type=int, default=_MODEL.person_class, help="person class index for multi-class models"
    )


def add_matte_args(parser: argparse.ArgumentParser) -> None:
    """``--subject`` and ``--no-refine`` (defaults from :class:`MatteOptions`)."""
    g = parser.add_argument_group("matte")
    g.add_argument(
        "--subject",
        choices=("all", "main"),
        default=_MATTE.subject,
        help="keep every person sharp, or only the main one",
    )
    g.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=_MATTE.refine,
        help="edge-aware mask upsampling guided by the frame (--no-refine: plain bilinear)",
    )
    g.add_argument(
        "--temporal",
        action=argparse.BooleanOptionalAction,
        default=_MATTE.temporal,
        help="smooth the mask over time where the picture is still (video; --no-temporal: off)",
    )
    g.add_argument(
        "--compensate",
        action=argparse.BooleanOptionalAction,
        default=_MATTE.compensate,
        help="move a mask older than the frame along the optical flow (--no-compensate: off)",
    )
    g.add_argument(
        "--crops",
        action=argparse.BooleanOptionalAction,
        default=_MATTE.crops,
        help="find people with the face/pose detectors; segment small ones again on a crop and whole-body ones "
        "with the per-person pose model (--no-crops: off)",
    )
    g.add_argument(
        "--quality",
        choices=QUALITIES,
        default=_MATTE.quality,
        help="fast: the selfie models; best: also the MODNet matting model for finer edges (hair), "
        "~20x the model cost - for photos and files (ONNX Runtime with pip install 'livebokeh[onnx]', else OpenCV); "
        "auto (default): best for photos when ONNX Runtime is installed, fast for video",
    )


def options_from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Build the dataclass ``cls`` from the ``args`` attributes named like its fields.

    Attributes that are missing or ``None`` leave the field at its default; ``overrides``
    win over both.
    """
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = value
    values.update(overrides)
    return cls(**values)


def effect_options(args: argparse.Namespace, **overrides: Any) -> EffectOptions:
    """:class:`EffectOptions` from parsed (and config-merged) arguments."""
    return options_from_args(EffectOptions, args, **overrides)


def segmenter_options(args: argparse.Namespace, **overrides: Any) -> SegmenterOptions:
    """:class:`SegmenterOptions` from parsed (and config-merged) arguments."""
    return options_from_args(SegmenterOptions, args, **overrides)


def matte_options(args: argparse.Namespace, **overrides: Any) -> MatteOptions:
    """:class:`MatteOptions` from parsed (and config-merged) arguments."""
    return options_from_args(MatteOptions, args, **overrides)


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal: progress bars are drawn only there (in a log or pipe their
    carriage-return updates would pile up as hundreds of lines)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # a closed stream
        return False


def write_stats_json(path: Path | None, records: Sequence[Any]) -> None:
    """``--stats-json``: ``{"files": [record.as_dict(), ...]}``, replaced atomically (a reader never sees half)."""
    if path is None:
        return
    from ..safe_write import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps({"files": [r.as_dict() for r in records]}, indent=2) + "\n")


# --- the configuration file -----------------------------------------------------------------


def add_config_args(parser: argparse.ArgumentParser, subparsers: argparse._SubParsersAction | None = None) -> None:  # type: ignore[type-arg]
    """Add ``--config FILE.toml`` and ``--no-config`` to ``parser`` and to every command under it.

    On a command the options use ``SUPPRESS`` defaults, so that ``livebokeh --config a.toml
    live`` and ``livebokeh live --config a.toml`` both work.
    """
    parser.add_argument(
        "--config",
        metavar="FILE.toml",
        default=None,
        help="read options from this TOML file (default: $XDG_CONFIG_HOME/livebokeh/config.toml when it exists)",
    )
    parser.add_argument("--no-config", action="store_true", default=False, help="ignore the default config file")
    if subparsers is None:
        return
    for sub in subparsers.choices.values():
        g = sub.add_argument_group("configuration")
        g.add_argument(
            "--config",
            metavar="FILE.toml",
            default=argparse.SUPPRESS,
            help="read options from this TOML file; flags given here win (default: "
            "$XDG_CONFIG_HOME/livebokeh/config.toml when it exists)",
        )
        g.add_argument(
            "--no-config", action="store_true", default=argparse.SUPPRESS, help="ignore the default config file"
        )


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_parsers(child)


def explicit_dests(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations the user actually typed in ``argv`` (parsed again with every default suppressed)."""
    saved: list[tuple[argparse.Action, Any]] = []
    saved_defaults: list[tuple[argparse.ArgumentParser, dict[str, Any]]] = []
    try:
        for p in _all_parsers(parser):
            saved_defaults.append((p, p._defaults))
            p._defaults = {}
            for action in p._actions:
                saved.append((action, action.default))
                action.default = argparse.SUPPRESS
        namespace, _ = parser.parse_known_args(list(argv))
    finally:
        for action, default in saved:
            action.default = default
        for p, defaults in saved_defaults:
            p._defaults = defaults
    return set(vars(namespace))


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The top-level commands of ``parser`` by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


DIAGNOSTIC_COMMANDS = ("doctor",)
"""Commands that report a broken config file instead of stopping at it."""

_SKIP_DESTS = {"help", "config", "no_config", "version", "verbose", "debug"}


def _option_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Optional (flag) arguments of a command by destination: what its config section may set."""
    return {
        a.dest: a
        for a in parser._actions
        if a.option_strings and a.dest not in _SKIP_DESTS and not isinstance(a, argparse._SubParsersAction)
    }


def _shared_fields() -> dict[str, tuple[str, type]]:
    out: dict[str, tuple[str, type]] = {}
    for section, cls in SHARED_SECTIONS.items():
        for f in fields(cls):
            out.setdefault(f.name, (section, cls))
    return out


def convert_for_action(action: argparse.Action, value: Any, *, what: str) -> Any:
    """Convert a TOML value the way argparse would convert the flag's text, or raise ConfigError."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)):
        if not isinstance(value, bool):
            raise ConfigError(f"{what} has the wrong type ({type(value).__name__}): expected true or false")
        return value
    if isinstance(action, argparse._CountAction):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{what} is not allowed: expected a whole number >= 0")
        return value
    if isinstance(action, argparse._StoreConstAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{what} has the wrong type ({type(value).__name__}): expected true or false")
        return action.const if value else action.default
    many = isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*") or isinstance(action.nargs, int)
    if many:
        items = value if isinstance(value, list) else [value]
        if isinstance(action, argparse._AppendAction) and action.nargs in ("+", "*"):
            return [[_convert_one(action, v, what=what) for v in (i if isinstance(i, list) else [i])] for i in items]
        return [_convert_one(action, v, what=what) for v in items]
    if isinstance(value, (list, dict)):
        raise ConfigError(f"{what} has the wrong type ({type(value).__name__}): expected a single value")
    return _convert_one(action, value, what=what)


def _convert_one(action: argparse.Action, value: Any, *, what: str) -> Any:
    kind = action.type
    converted: Any
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{what} has the wrong type (bool): expected {_expected(action)}")
    if kind is None and not isinstance(value, str):
        raise ConfigError(f"{what} has the wrong type ({type(value).__name__}): expected a string")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{what} has the wrong type ({type(value).__name__}): expected a whole number")
    if kind is float and not isinstance(value, (int, float)):
        raise ConfigError(f"{what} has the wrong type ({type(value).__name__}): expected a number")
    try:
        if kind is None:
            converted = value
        elif kind is int:
            converted = int(value)
        elif kind is float:
            converted = float(value)
        elif callable(kind):
            converted = kind(value if isinstance(value, str) else str(value))
        else:  # pragma: no cover - argparse only allows callables
            converted = value
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        raise ConfigError(f"{what} is not allowed: expected {_expected(action)} ({exc})") from None
    if action.choices is not None and converted not in action.choices:
        allowed = ", ".join(str(c) for c in action.choices)
        raise ConfigError(f"{what} is not allowed: use one of {allowed}")
    return converted


def _expected(action: argparse.Action) -> str:
    if action.choices is not None:
        return "one of " + ", ".join(str(c) for c in action.choices)
    return {int: "a whole number", float: "a number", None: "a string"}.get(action.type, action.metavar or "a value")  # type: ignore[arg-type]


def command_values(config: Config, command: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The values ``config`` gives ``command``: shared sections, then the command's own section.

    Keys of the command section must be the command's long options (by destination,
    ``-`` or ``_``) or fields of the shared option dataclasses; anything else is a
    :class:`ConfigError` that lists what is allowed.
    """
    actions = _option_actions(parser)
    shared = _shared_fields()
    where = f"config {config.path}: " if config.path is not None else "config: "
    values: dict[str, Any] = {}
    for section in SHARED_SECTIONS:
        values.update(config.sections.get(section, {}))
    body = config.commands.get(command, {})
    dataclass_keys: dict[str, dict[str, Any]] = {}
    for key, value in body.items():
        what = f"{where}[{command}] {key} = {_toml(value)}"
        if key in actions:
            values[key] = convert_for_action(actions[key], value, what=what)
            if key in shared:
                dataclass_keys.setdefault(shared[key][0], {})[key] = values[key]
        elif key in shared:
            section, cls = shared[key]
            dataclass_keys.setdefault(section, {})[key] = value
            values[key] = value
        else:
            allowed = sorted(set(actions) | set(shared))
            raise ConfigError(
                f"{where}unknown key [{command}] {key} = {_toml(value)}: allowed keys are {', '.join(allowed)}"
            )
    for section, subset in dataclass_keys.items():
        checked = check_section(SHARED_SECTIONS[section], subset, section=command, where=where)
        values.update(checked)
    return values


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)


def validate_config(config: Config, parser: argparse.ArgumentParser) -> None:
    """Check every command section of ``config`` against that command's options (a typo anywhere is an error)."""
    commands = command_parsers(parser)
    for command in config.commands:
        if command in commands:
            command_values(config, command, commands[command])


def load_for_args(args: argparse.Namespace, command_names: Sequence[str]) -> Config:
    """The config file that ``--config``/``--no-config`` in ``args`` select."""
    path = getattr(args, "config", None)
    if path is None and getattr(args, "no_config", False):
        return Config()
    return load_config(path, commands=command_names)


def apply_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None = None
) -> Config:
    """Merge the config file into ``args``: every option the user did not type takes the file's value.

    Stores the :class:`~livebokeh.config.Config` on ``args`` as ``loaded_config`` and returns it.
    ``doctor`` does not stop at a broken file: the error is kept as ``args.config_error``
    for its report.
    """
    commands = command_parsers(parser)
    command = getattr(args, "command", None)
    try:
        config = load_for_args(args, list(commands))
        setattr(args, CONFIG_ATTR, config)
        validate_config(config, parser)
    except ConfigError as exc:
        if command not in DIAGNOSTIC_COMMANDS:
            raise
        setattr(args, CONFIG_ATTR, Config())
        args.config_error = str(exc)
        return Config()
    if command not in commands or (not config.sections and not config.commands):
        return config
    typed = explicit_dests(parser, sys.argv[1:] if argv is None else argv)
    for key, value in command_values(config, command, commands[command]).items():
        if key not in typed:
            setattr(args, key, value)
    return config


def config_of(args: argparse.Namespace) -> Config:
    """The :class:`~livebokeh.config.Config` merged into ``args`` (empty when none was)."""
    config = getattr(args, CONFIG_ATTR, None)
    return config if isinstance(config, Config) else Config()


__all__ = [
    "add_config_args",
    "add_effect_args",
    "add_matte_args",
    "add_model_args",
    "apply_config",
    "effect_options",
    "matte_options",
    "options_from_args",
    "segmenter_options",
]
