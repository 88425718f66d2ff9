"""Recipes: YAML files with flat keys, ``key=value`` overrides, validation into dataclasses.

A recipe sets any field of :class:`ModelConfig`, :class:`DataConfig`, :class:`RunConfig` and of the
method's trainer config (a :class:`transformers.TrainingArguments` subclass), TRL-style flat names
(``learning_rate``, ``lora_r``, ``alpha``…). OmegaConf merges the recipe with the overrides (dotted
keys reach into dict-valued fields); unknown keys and values of the wrong type are rejected with the
closest valid names.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import logging
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError
from .models import ModelConfig
from .trainers import METHODS, PreferenceConfig
from .trainers.base import CHECKPOINTING

logger = logging.getLogger("mmalign")

RECIPE_DIRS = (Path(__file__).resolve().parent.parent / "recipes", Path.cwd() / "recipes")


@dataclass
class DataConfig:
    train_file: str = field(default="", metadata={"help": "Pairs: JSON/JSONL file or datasets name[:split]."})
    ref_file: str | None = field(default=None, metadata={"help": "DPA reference samples (LLaVA conversations)."})
    media_root: str | None = field(default=None, metadata={"help": "Directory that relative media paths start from."})
    format: str = field(default="auto", metadata={"help": "auto, dpa, rrpo, canonical, preference."})
    ref_format: str = field(default="auto", metadata={"help": "auto, llava, canonical."})
    num_frames: int | None = field(default=None, metadata={"help": "Frames sampled uniformly per video (16 unless fps is set)."})
    fps: float | None = field(default=None, metadata={"help": "Sample videos at this rate instead of num_frames."})
    frame_sampling: str = field(
        default="linspace",
        metadata={"help": "linspace: round(linspace(0, T-1, n)) (LLaVA-Video, lmms-eval); interval: floor(i*T/n) "
                  "(the official RRPO training loader)."},
    )
    max_samples: int | None = field(default=None, metadata={"help": "Use only the first N pairs."})
    balance_yes_no: bool = field(
        default=False,
        metadata={"help": "Keep equal numbers of yes and no answers among yes/no (kind qa) pairs, as the official HALVA loader."},
    )
    system_prompt: str | None = field(default=None, metadata={"help": "A system turn that opens every conversation."})
    pad_to_square: bool = field(
        default=False,
        metadata={"help": "Pad images to a square with the image processor's mean colour (LLaVA-1.5's image_aspect_ratio=pad)."},
    )

    def __post_init__(self):
        from .data.media import FRAME_SAMPLINGS

        if self.frame_sampling not in FRAME_SAMPLINGS:
            raise ValueError(f"frame_sampling must be one of {', '.join(FRAME_SAMPLINGS)}, got {self.frame_sampling!r}")


@dataclass
class RunConfig:
    method: str = field(default="dpa", metadata={"help": "dpa, rrpo, rrpo_seqreward, rrpo_nokl, dpo, ddpo, tdpo."})
    recipe: str | None = None
    save_merged: bool = field(default=False, metadata={"help": "Also write LoRA-merged full weights."})
    validate_data: bool = field(default=True, metadata={"help": "Encode every sample once before training."})
    compare_on_world: bool = field(default=False, metadata={"help": "After training a world:// model, compare it with its base on held-out world scenes."})
    world_eval_samples: int | None = field(default=None, metadata={"help": "Held-out world scenes per split in that comparison (default: all 200)."})


@dataclass
class TrainSetup:
    run: RunConfig
    model: ModelConfig
    data: DataConfig
    training: PreferenceConfig
    raw: dict[str, Any]
    #: data file → the folder its relative media paths start from, for built-in files (``tiny://``,
    #: ``world://``), which bring their media along whatever ``media_root`` says
    media_roots: dict[str, str] = field(default_factory=dict)


#: recipe kinds and the sub-folder of ``recipes/`` holding each
RECIPE_KINDS = {"train": "", "gen": "gen", "eval": "eval"}


def list_recipes(kind: str = "train") -> list[str]:
    names = set()
    for directory in RECIPE_DIRS:
        folder = directory / RECIPE_KINDS[kind]
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def recipe_path(name: str, kind: str = "train") -> Path:
    """A recipe file: ``name`` as a YAML path, or a name in ``recipes/`` (``recipes/gen/``…)."""
    candidate = Path(name).expanduser()
    if candidate.suffix in (".yaml", ".yml"):
        if candidate.is_file():
            return candidate
        raise ConfigError(f"recipe file not found: {name}")
    for directory in RECIPE_DIRS:
        path = directory / RECIPE_KINDS[kind] / f"{name}.yaml"
        if path.is_file():
            return path
    known = list_recipes(kind)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; recipes: {', '.join(known)}"
    raise ConfigError(f"no recipe named {name!r}{hint}")


def parse_overrides(argv: list[str]) -> tuple[str | None, list[str]]:
    """Split ``recipe=NAME`` from the other ``key=value`` arguments."""
    recipe, overrides = None, []
    for arg in argv:
        if "=" not in arg:
            raise ConfigError(f"argument {arg!r} is not of the form key=value")
        key, value = arg.split("=", 1)
        if key == "recipe":
            recipe = value
        else:
            overrides.append(f"{key.lstrip('-')}={value}")
    return recipe, overrides


def load_values(argv: list[str], kind: str = "train") -> dict[str, Any]:
    """Merge the recipe named by ``recipe=`` with the ``key=value`` overrides into a plain dict.

    The result holds the key ``recipe`` (the name given, or None)."""
    recipe, overrides = parse_overrides(argv)
    try:
        merged = OmegaConf.create({})
        if recipe is not None:
            merged = load_recipe(recipe_path(recipe, kind))
        merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(overrides))
        values = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"invalid recipe or override: {str(err).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise ConfigError("a recipe must be a mapping of keys to values")
    values["recipe"] = recipe
    return values


def load_recipe(path: Path) -> DictConfig:
    """A recipe file as a mapping; a YAML syntax error or another top-level shape is one line naming the file."""
    try:
        loaded = OmegaConf.load(path)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{path}: a recipe must be a mapping of keys to values, not a {type(loaded).__name__.removesuffix('Config').lower()}")
    return loaded


def typed_keys(argv: list[str]) -> set[str]:
    """The top-level keys given on the command line (``recipe=`` aside)."""
    return {key.split(".", 1)[0] for key in (arg.split("=", 1)[0].lstrip("-") for arg in argv if "=" in arg)} - {"recipe"}


def build_config(cls: type, values: dict[str, Any]):
    """Validate flat ``values`` against the dataclass ``cls`` and build it.

    Unknown keys and values of the wrong type raise :class:`ConfigError` naming the closest keys."""
    hints = _field_types(cls)
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"unknown key {key!r}{_closest(key, hints)}")
        value = values[key] = _yaml_no(value, hints[key])
        _check_type(key, value, hints[key])
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"invalid configuration: {str(err).splitlines()[0]}") from None


def _closest(key: str, valid: Any) -> str:
    close = difflib.get_close_matches(key, sorted(valid), n=3, cutoff=0.6)
    return f"; closest valid keys: {', '.join(close)}" if close else ""


def load_config(argv: list[str]) -> TrainSetup:
    """Training recipe + overrides → validated dataclasses. Raises :class:`ConfigError` (one line)."""
    values = load_values(argv, "train")
    if isinstance(values.get("resume_from_checkpoint"), bool):  # true: the last checkpoint in output_dir
        values["resume_from_checkpoint"] = "last" if values["resume_from_checkpoint"] else None
    return build_setup(values, typed=typed_keys(argv))


def build_setup(values: dict[str, Any], typed: set[str] | None = None) -> TrainSetup:
    """Validated dataclasses from flat ``values``. ``typed`` names the keys the user gave on the
    command line (all keys when None): a recipe's key that the chosen method does not use is
    dropped with a notice, a typed one is an error."""
    method = values.get("method", "dpa")
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    config_cls, _, preset = METHODS[method]
    groups = {"run": RunConfig, "model": ModelConfig, "data": DataConfig, "training": config_cls}
    hints = {name: _field_types(cls) for name, cls in groups.items()}
    every_key = {key for group in hints.values() for key in group}
    other_method_keys = {
        f.name for cls, _, _ in METHODS.values() for f in dataclasses.fields(cls)
    } - every_key
    split: dict[str, dict[str, Any]] = {name: {} for name in groups}
    split["training"].update(preset)
    values = {_checkpointing_spelling(key): value for key, value in values.items()}
    for key, value in values.items():
        if key in other_method_keys:
            if (typed is None or key in typed) and value is not None:
                raise ConfigError(f"key {key!r} does not apply to method {method!r}")
            logger.info("%s: key %r does not apply to method %r; left out", values.get("recipe") or "recipe", key, method)
            continue
        group = next((name for name, h in hints.items() if key in h), None)
        if group is None:
            raise ConfigError(f"unknown key {key!r}{_closest(key, every_key)}")
        value = _yaml_no(value, hints[group][key])
        _check_type(key, value, hints[group][key])
        split[group][key] = value
    if not split["model"].get("model"):
        raise ConfigError("no model given: set model=HUB_ID_OR_PATH")
    split["training"].setdefault("output_dir", "outputs/" + Path(str(split["model"]["model"])).name + f"-{method}")
    choose_frame_sampling(split["data"], typed)
    check_ranges({key: value for group in split.values() for key, value in group.items()}, TRAIN_BOUNDS)
    try:
        built = {name: groups[name](**kwargs) for name, kwargs in split.items()}
    except (ValueError, TypeError) as err:
        raise ConfigError(f"invalid configuration: {str(err).splitlines()[0]}") from None
    # Found now rather than when the finished model is saved
    output_dir = Path(built["training"].output_dir).expanduser()
    existing = next(p for p in (output_dir, *output_dir.parents) if p.exists() or p == p.parent)
    if existing.exists() and not existing.is_dir():
        what = "" if existing == output_dir else f": {existing}"
        raise ConfigError(f"output_dir={built['training'].output_dir}{what} is a file, not a directory")
    return TrainSetup(built["run"], built["model"], built["data"], built["training"], values)


def _checkpointing_spelling(key: str) -> str:
    """``activation_checkpointing[_kwargs]`` and ``gradient_checkpointing[_kwargs]`` (its name before
    transformers renamed it during 5.x) both mean the name the installed transformers knows."""
    for spelling in ("activation_checkpointing", "gradient_checkpointing"):
        if key in (spelling, f"{spelling}_kwargs"):
            return CHECKPOINTING + key[len(spelling):]
    return key


#: key → (lowest value, whether the lowest itself is allowed, why): values of the right type that
#: would crash late or silently do something else (``max_samples=-1`` drops the last item)
Bounds = dict[str, tuple[float, bool, str]]
SAMPLING_BOUNDS: Bounds = {
    "num_frames": (1, True, "a video needs at least one frame"),
    "fps": (0, False, "a sampling rate must be positive"),
    "max_samples": (1, True, "use at least one (or leave it unset for all)"),
}
TRAIN_BOUNDS: Bounds = {
    **SAMPLING_BOUNDS,
    "learning_rate": (0, True, "a learning rate cannot be negative"),
    "per_device_train_batch_size": (1, True, "each step needs at least one pair"),
    "gradient_accumulation_steps": (1, True, "a step accumulates at least one batch"),
    "num_train_epochs": (0, False, "training needs a positive number of epochs"),
    "alpha": (0, True, "a negative KL weight rewards moving away from the reference"),
    "beta": (0, False, "the reward scale must be positive"),
    "lora_r": (1, True, "a LoRA rank is at least 1"),
    "lora_alpha": (0, False, "the LoRA scale must be positive"),
    "lora_dropout": (0, True, "a dropout rate lies in [0, 1)"),
}


def check_ranges(values: dict[str, Any], bounds: Bounds) -> None:
    """Values of the right type that cannot work: one line each, before anything loads."""
    for key, (lowest, inclusive, why) in bounds.items():
        value = values.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < lowest or (value == lowest and not inclusive):
                raise ConfigError(f"{key}={value}: {why}")
    dropout = values.get("lora_dropout")
    if isinstance(dropout, (int, float)) and dropout >= 1:
        raise ConfigError(f"lora_dropout={dropout}: a dropout rate lies in [0, 1)")
    max_steps = values.get("max_steps")
    if isinstance(max_steps, int) and (max_steps == 0 or max_steps < -1):
        raise ConfigError(f"max_steps={max_steps}: give a positive number of steps, or -1 to train for num_train_epochs")


def choose_frame_sampling(data: dict[str, Any], typed: set[str] | None) -> None:
    """Videos are sampled by ``num_frames`` or by ``fps``: with both set, the one typed on the command
    line wins over the recipe's, with a notice; both from the same place is an error."""
    if data.get("num_frames") is None or data.get("fps") is None:
        return
    if typed is not None and len({"num_frames", "fps"} & typed) == 1:
        loser = "num_frames" if "fps" in typed else "fps"
        logger.info("sampling videos by %s; the recipe's %s=%s is left out", ({"num_frames", "fps"} - {loser}).pop(), loser, data[loser])
        data[loser] = None
        return
    raise ConfigError(f"num_frames={data['num_frames']} and fps={data['fps']} are both set; "
                      "videos are sampled by one of them (set the other to null)")


def _field_types(cls: type) -> dict[str, Any]:
    try:
        resolved = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 — unresolved annotations: accept any value for those fields
        resolved = {}
    return {f.name: resolved.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


def _yaml_no(value: Any, annotation: Any) -> Any:
    """YAML reads a bare ``no`` as False; for a field that takes no bool (``save_strategy=no``), mean "no"."""
    if value is False and not _matches(False, annotation) and _matches("no", annotation):
        return "no"
    return value


def _check_type(key: str, value: Any, annotation: Any) -> None:
    if not _matches(value, annotation):
        name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        raise ConfigError(f"key {key!r} expects {name}, got {value!r}")


def _matches(value: Any, annotation: Any) -> bool:
    if annotation is Any or isinstance(annotation, typing.TypeVar):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, tuple) or annotation in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return isinstance(value, str) and value in {m.value for m in annotation}
    return True
