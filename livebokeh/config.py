"""Option dataclasses (frozen, keyword-only, validated on construction) and the TOML config file.

The CLI parses arguments into these; the library never reads ``sys.argv``.
:func:`load_config` reads a TOML file whose shared sections ``[effect]``, ``[model]``
and ``[matte]`` map onto :class:`EffectOptions`, :class:`SegmenterOptions` and
:class:`MatteOptions`; sections named after a command hold that command's options.
"""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from .effect_kinds import Blur, EffectKind, parse_effect
from .errors import ConfigError

SUBJECTS = ("all", "main")
QUALITIES = ("auto", "fast", "best")


@dataclass(frozen=True, kw_only=True, slots=True)
class EffectOptions:
    """What happens to the background.

    ``effect`` is one of the :mod:`~livebokeh.effect_kinds` values (:class:`Blur`,
    :class:`Bokeh`, :class:`Replace`, :class:`Color`, :class:`MaskView`,
    :class:`Passthrough`) or its text as the CLI spells it (``"bokeh"``,
    ``"replace:beach.jpg"``, ``"color:#00ff00"``), which is parsed here, once.
    ``strength`` in ``[0, 1]`` scales the blur radius relative to the frame height, so
    the look is the same at 480p and 4K.  ``falloff`` makes blur grow with distance from
    the person (depth-like).  ``blades`` shapes the ``bokeh`` aperture: 0 for a round
    disc, 5 to 12 for a polygon with that many sides.
    """

    effect: EffectKind = Blur()
    strength: float = 0.5
    falloff: bool = False
    blades: int = 0

    if TYPE_CHECKING:  # the generated __init__ also takes the effect as text

        def __init__(
            self, *, effect: EffectKind | str = ..., strength: float = ..., falloff: bool = ..., blades: int = ...
        ) -> None: ...

    def __post_init__(self) -> None:
        if isinstance(self.effect, str):  # the CLI / config spelling, parsed once here
            object.__setattr__(self, "effect", parse_effect(self.effect))
        elif not isinstance(self.effect, EffectKind):
            raise ConfigError(f'effect {self.effect!r} is unknown: give an effect value or its name, e.g. "blur"')
        if not isinstance(self.strength, (int, float)) or not 0.0 <= float(self.strength) <= 1.0:
            raise ConfigError(f"strength {self.strength!r} is out of range: use a number from 0 to 1")
        blades_ok = type(self.blades) is int and (self.blades == 0 or 5 <= self.blades <= 12)
        if not blades_ok:
            raise ConfigError(f"blades {self.blades!r} is out of range: use 0 (round) or 5 to 12")


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmenterOptions:
    """Which model runs and how."""

    model: str = "auto"
    threads: int = 1
    person_class: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads {self.threads!r} is out of range: use a whole number >= 1")
        if self.person_class is not None and (not isinstance(self.person_class, int) or self.person_class < 0):
            raise ConfigError(f"person_class {self.person_class!r} is out of range: use a whole number >= 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class MatteOptions:
    """How the model's mask becomes the alpha that is applied.

    ``refine``: edge-aware upsampling guided by the frame.  ``subject``: ``all`` keeps
    every person sharp, ``main`` only the main one.  ``temporal``: smooth the mask over
    time (video only).  ``compensate``: move a stale mask to where the person is now.
    ``crops``: find people with the face/pose detectors and segment each small one
    again on a crop around them.  ``quality``: ``fast`` (the selfie models alone) or
    ``best``, which also runs the MODNet matting model (about 20x the selfie model's cost;
    needs ``livebokeh[onnx]``) and takes its edge near the person's contour - for photos and files;
    ``auto`` (the default) is ``best`` for photos where ONNX Runtime is installed and ``fast``
    for video (``live``, ``convert``), where the time per frame is short.
    """

    refine: bool = True
    subject: str = "all"
    temporal: bool = True
    compensate: bool = True
    crops: bool = True
    quality: str = "auto"

    def __post_init__(self) -> None:
        if self.subject not in SUBJECTS:
            raise ConfigError(f"subject {self.subject!r} is unknown: use one of {', '.join(SUBJECTS)}")
        if self.quality not in QUALITIES:
            raise ConfigError(f"quality {self.quality!r} is unknown: use one of {', '.join(QUALITIES)}")


# --- configuration file -------------------------------------------------------------------
#
# A TOML file maps onto the same dataclasses.  Shared sections hold the options that
# several commands use; a section named after a command (``[live]``, ``[convert]``,
# ``[photo]``...) holds that command's own options under their long-flag names and
# may also override a shared option for that command only.  Precedence, highest
# first: a flag typed on the command line, the command's section, the shared
# section, the dataclass default.

SHARED_SECTIONS: dict[str, type] = {
    "effect": EffectOptions,
    "model": SegmenterOptions,
    "matte": MatteOptions,
}
"""Shared TOML sections and the option dataclass each one maps onto."""

CONFIG_ENV = "XDG_CONFIG_HOME"

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """A parsed, validated configuration file.

    ``sections`` maps each shared section name to its keys, already checked against the
    dataclass in :data:`SHARED_SECTIONS`; ``commands`` maps a command name to its own
    keys (checked by the CLI against that command's flags).  ``path`` is where the file
    came from (``None`` for an empty configuration).
    """

    path: Path | None = None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    commands: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def effect(self) -> EffectOptions:
        """``[effect]`` as :class:`EffectOptions`."""
        return self.options(EffectOptions, "effect")

    @property
    def segmenter(self) -> SegmenterOptions:
        """``[model]`` as :class:`SegmenterOptions`."""
        return self.options(SegmenterOptions, "model")

    @property
    def matte(self) -> MatteOptions:
        """``[matte]`` as :class:`MatteOptions`."""
        return self.options(MatteOptions, "matte")

    def options(self, cls: type[T], section: str, command: str | None = None, **overrides: Any) -> T:
        """Build the dataclass ``cls`` from ``section``, then ``command``'s section, then ``overrides``.

        ``section`` may be a shared section or a command section (``cfg.options(LiveOptions,
        "live")``).  Keys that are not fields of ``cls`` are skipped (in a command section
        they belong to the command's other option groups); values are converted to the
        field types (a TOML list becomes a tuple) and checked by the dataclass.
        """
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        try:
            hints = get_type_hints(cls)
        except Exception:  # noqa: BLE001 - an annotation that does not evaluate: construction still checks
            hints = {}
        values: dict[str, Any] = {}
        sources = [(section, self.sections.get(section) or self.commands.get(section) or {})]
        if command is not None:
            sources.append((command, self.commands.get(command, {})))
        for name, body in sources:
            for key, value in body.items():
                if key in names:
                    what = f"{self._where(f'[{name}]')}{key} = {_show(value)}".lstrip()
                    values[key] = coerce_value(value, hints.get(key, Any), what=what)
        values.update({k: v for k, v in overrides.items() if k in names})
        where = self._where(f"[{command}]" if command and command in self.commands else f"[{section}]")
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None

    def _where(self, section: str) -> str:
        return f"config {self.path}: {section} " if self.path is not None else ""


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/livebokeh/config.toml`` (``~/.config`` when the variable is unset)."""
    base = os.environ.get(CONFIG_ENV) or str(Path.home() / ".config")
    return Path(base).expanduser() / "livebokeh" / "config.toml"


def _toml_module() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # pragma: no cover - Python 3.10 only
        import tomli

        return tomli
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("reading a config file on Python 3.10 needs tomli: pip install tomli") from exc


def load_config(path: str | Path | None = None, *, commands: Iterable[str] = ()) -> Config:
    """Read and validate a TOML configuration file.

    ``path=None`` reads :func:`default_config_path` if that file exists and returns an
    empty :class:`Config` otherwise; an explicit path that does not exist is an error.
    ``commands`` names the sections allowed besides the shared ones (the CLI passes its
    command names); with none given, any extra section is accepted as a command section.
    Every problem raises :class:`ConfigError` naming the file, the key, the value and
    what is allowed.
    """
    if path is None:
        candidate = default_config_path()
        if not candidate.is_file():
            return Config()
        file = candidate
    else:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError(f"config file {file} does not exist: check the path given to --config")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc}") from exc
    return parse_config(text, path=file, commands=commands)


def parse_config(text: str, *, path: Path | None = None, commands: Iterable[str] = ()) -> Config:
    """Validate TOML ``text`` as a configuration (see :func:`load_config`)."""
    toml = _toml_module()
    where = f"config {path}: " if path is not None else "config: "
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ConfigError(f"{where}not valid TOML: {exc}") from None
    command_names = tuple(commands)
    allowed_sections = [*SHARED_SECTIONS, *command_names]
    sections: dict[str, dict[str, Any]] = {}
    command_sections: dict[str, dict[str, Any]] = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(
                f"{where}key {name} = {_show(body)} is outside any section: "
                f"put it under one of {', '.join(f'[{s}]' for s in allowed_sections)}"
            )
        if name in SHARED_SECTIONS:
            sections[name] = check_section(SHARED_SECTIONS[name], body, section=name, where=where)
        elif not command_names or name in command_names:
            command_sections[name] = {_key(k): v for k, v in body.items()}
        else:
            raise ConfigError(
                f"{where}unknown section [{name}]: allowed sections are {', '.join(f'[{s}]' for s in allowed_sections)}"
            )
    return Config(path=path, sections=sections, commands=command_sections)


def _key(name: str) -> str:
    return name.replace("-", "_")


def _show(value: object) -> str:
    """A value as it would be written in TOML (short)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{...}"
    return repr(value)


def check_section(cls: type, body: Mapping[str, Any], *, section: str, where: str = "config: ") -> dict[str, Any]:
    """Check ``body``'s keys and value types against the fields of ``cls``, then construct it once.

    Returns the keys (dashes turned into underscores).  The dataclass's own validation
    runs too, so a value out of range is reported with the section and key.
    """
    try:
        hints = get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation that does not evaluate: check values by construction only
        hints = {}
    names = [f.name for f in fields(cls)]
    out: dict[str, Any] = {}
    for raw_key, value in body.items():
        key = _key(raw_key)
        if key not in names:
            raise ConfigError(
                f"{where}unknown key [{section}] {raw_key} = {_show(value)}: allowed keys are {', '.join(names)}"
            )
        out[key] = coerce_value(value, hints.get(key, Any), what=f"{where}[{section}] {raw_key} = {_show(value)}")
    try:
        cls(**out)
    except ConfigError as exc:
        raise ConfigError(f"{where}[{section}] {exc}") from None
    except TypeError as exc:  # a field the dataclass refuses for its own reasons
        raise ConfigError(f"{where}[{section}] {exc}") from None
    return out


_TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Path: "a path string"}


def coerce_value(value: Any, annotation: Any, *, what: str) -> Any:
    """Return ``value`` converted to ``annotation`` (bool, int, float, str, Path, X | None), or raise.

    TOML has no ``None``: an optional field is given by its value or left out.
    """
    if annotation == EffectKind:  # written as text: EffectOptions parses it on construction (one parser)
        annotation = str
    options = [a for a in get_args(annotation) if a is not type(None)] if _is_union(annotation) else [annotation]
    for option in options:
        if option is Any:
            return value
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if option is Path and isinstance(value, str):
            return Path(value).expanduser()
        if get_origin(option) in (tuple, list) and isinstance(value, list):
            return tuple(value) if get_origin(option) is tuple else list(value)
        if get_origin(option) is Literal and value in get_args(option):
            return value
    expected = " or ".join(_describe(o) for o in options)
    raise ConfigError(f"{what} has the wrong type ({type(value).__name__}): expected {expected}")


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _describe(annotation: Any) -> str:
    if annotation in _TYPE_WORDS:
        return _TYPE_WORDS[annotation]
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(_show(a) for a in get_args(annotation))
    if get_origin(annotation) in (tuple, list):
        return "a list"
    return getattr(annotation, "__name__", str(annotation))
