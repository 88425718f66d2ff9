"""The benchmarks, by name. Modules are imported when a benchmark is used."""

from __future__ import annotations

import difflib
import importlib

from mmalign.errors import ConfigError

_VIDEO_MC = "mmalign.eval.benchmarks.video_mc:VideoMCBenchmark"

#: name → "module:Class"; the video multiple-choice benchmarks share one evaluator.
BENCHMARKS: dict[str, str] = {
    "chair": "mmalign.eval.benchmarks.chair:ChairBenchmark",
    "pope": "mmalign.eval.benchmarks.pope:PopeBenchmark",
    "amber": "mmalign.eval.benchmarks.amber:AmberBenchmark",
    "mme": "mmalign.eval.benchmarks.mme:MMEBenchmark",
    "mmhal": "mmalign.eval.benchmarks.mmhal:MMHalBenchmark",
    "tvbench": _VIDEO_MC,
    "mvbench": _VIDEO_MC,
    "videomme": _VIDEO_MC,
    "mlvu": _VIDEO_MC,
    "longvideobench": _VIDEO_MC,
    "tempcompass": _VIDEO_MC,
    "vidhalluc": _VIDEO_MC,
    "videohallucer": "mmalign.eval.benchmarks.videohallucer:VideoHallucerBenchmark",
    "vcrbench": "mmalign.eval.benchmarks.vcrbench:VCRBenchmark",
    "preference": "mmalign.eval.benchmarks.preference:PreferenceBenchmark",
    "divergence": "mmalign.eval.benchmarks.divergence:DivergenceBenchmark",
}


def benchmark_class(name: str) -> type:
    if name not in BENCHMARKS:
        close = difflib.get_close_matches(str(name), BENCHMARKS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; benchmarks: {', '.join(BENCHMARKS)}"
        raise ConfigError(f"unknown benchmark {name!r}{hint}" if name else "no benchmark given: set benchmark=NAME" + hint)
    module, _, cls = BENCHMARKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
