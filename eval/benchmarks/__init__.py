"""The benchmarks, by name. Modules are imported when a benchmark is used."""

from __future__ import annotations

import difflib
import importlib

from mmalign.errors import ConfigError

_VIDEO_MC = "eval.benchmarks.video_mc:VideoMCBenchmark"

#: name → "module:Class"; the video multiple-choice benchmarks share one evaluator.
BENCHMARKS: dict[str, str] = {
    "chair": "eval.benchmarks.chair:ChairBenchmark",
    "pope": "eval.benchmarks.pope:PopeBenchmark",
    "amber": "eval.benchmarks.amber:AmberBenchmark",
    "mme": "eval.benchmarks.mme:MMEBenchmark",
    "mmhal": "eval.benchmarks.mmhal:MMHalBenchmark",
    "tvbench": _VIDEO_MC,
    "mvbench": _VIDEO_MC,
    "videomme": _VIDEO_MC,
    "mlvu": _VIDEO_MC,
    "longvideobench": _VIDEO_MC,
    "tempcompass": _VIDEO_MC,
    "vidhalluc": _VIDEO_MC,
    "videohallucer": "eval.benchmarks.videohallucer:VideoHallucerBenchmark",
    "vcrbench": "eval.benchmarks.vcrbench:VCRBenchmark",
    "preference": "eval.benchmarks.preference:PreferenceBenchmark",
    "divergence": "eval.benchmarks.divergence:DivergenceBenchmark",
}


def benchmark_class(name: str) -> type:
    if name not in BENCHMARKS:
        close = difflib.get_close_matches(str(name), BENCHMARKS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; benchmarks: {', '.join(BENCHMARKS)}"
        raise ConfigError(f"unknown benchmark {name!r}{hint}" if name else "no benchmark given: set benchmark=NAME" + hint)
    module, _, cls = BENCHMARKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
