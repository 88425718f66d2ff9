"""Trainers for DPA, RRPO, DPO, DDPO and TDPO: one Trainer subclass and config dataclass per method."""

from .base import PreferenceConfig, PreferenceTrainer
from .ddpo import DDPOConfig, DDPOTrainer
from .dpa import DPAConfig, DPATrainer
from .dpo import DPOConfig, DPOTrainer
from .rrpo import RRPOConfig, RRPOTrainer
from .tdpo import TDPOConfig, TDPOTrainer

#: method name → (config class, trainer class, preset config values)
METHODS: dict[str, tuple[type[PreferenceConfig], type[PreferenceTrainer], dict]] = {
    "dpa": (DPAConfig, DPATrainer, {}),
    "rrpo": (RRPOConfig, RRPOTrainer, {}),
    "rrpo_seqreward": (RRPOConfig, RRPOTrainer, {"reward_level": "sequence"}),
    "rrpo_nokl": (RRPOConfig, RRPOTrainer, {"alpha": 0.0}),
    "dpo": (DPOConfig, DPOTrainer, {}),
    "ddpo": (DDPOConfig, DDPOTrainer, {}),
    "tdpo": (TDPOConfig, TDPOTrainer, {}),
}

__all__ = [
    "METHODS",
    "PreferenceConfig",
    "PreferenceTrainer",
    "DPAConfig",
    "DPATrainer",
    "RRPOConfig",
    "RRPOTrainer",
    "DPOConfig",
    "DPOTrainer",
    "DDPOConfig",
    "DDPOTrainer",
    "TDPOConfig",
    "TDPOTrainer",
]
