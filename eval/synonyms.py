"""The object vocabulary of CHAIR: the 80 COCO categories and the words captions use for them.

Each category lists the common words and phrases that name it (singular; plurals are handled by
singularising captions and table alike). Besides synonyms, CHAIR needs *context* phrases, where a
word that names an object is part of something else:

* two-word objects that contain another object's name (``hot dog`` is food, not a dog; ``teddy
  bear`` is a toy, not a bear);
* qualifiers that would otherwise fire ``person`` (``baby elephant`` is an elephant, ``passenger
  train`` a train);
* phrases that contain an object word but name no COCO object at all (``train track``, ``bus
  stop``, ``orange juice``): they map to ``None`` and only consume their words.

The ``toilet seat`` rule (a ``seat`` in a caption that also mentions a toilet is the toilet's, not a
chair) is applied in :func:`mmalign.eval.metrics.chair`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from .text import phrase_key

# fmt: off
COCO_SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": ("person", "people", "man", "woman", "boy", "girl", "child", "kid", "baby", "toddler",
               "adult", "guy", "lady", "gentleman", "teenager", "teen", "player", "skier",
               "snowboarder", "surfer", "skateboarder", "skater", "rider", "biker", "cyclist",
               "bicyclist", "pedestrian", "passenger", "driver", "worker", "chef", "officer",
               "policeman", "policewoman", "cop", "soldier", "student", "mother", "father", "daughter",
               "son", "bride", "groom", "tourist", "spectator", "catcher", "pitcher", "batter",
               "umpire", "athlete", "cowboy", "fisherman", "vendor", "customer", "shopper", "farmer"),
    "bicycle": ("bicycle", "bike", "mountain bike", "push bike"),
    "car": ("car", "automobile", "sedan", "taxi", "cab", "suv", "van", "minivan", "jeep", "hatchback",
            "police car", "race car"),
    "motorcycle": ("motorcycle", "motorbike", "motor bike", "motor cycle", "scooter", "moped", "dirt bike"),
    "airplane": ("airplane", "aeroplane", "plane", "air plane", "jet", "jetliner", "airliner",
                 "aircraft", "biplane", "seaplane"),
    "bus": ("bus", "minibus", "school bus", "double decker", "double decker bus"),
    "train": ("train", "locomotive", "tram", "streetcar", "subway train", "freight train"),
    "truck": ("truck", "pickup", "pickup truck", "lorry", "fire truck", "firetruck", "dump truck"),
    "boat": ("boat", "ship", "sailboat", "yacht", "canoe", "kayak", "ferry", "raft", "rowboat",
             "row boat", "motorboat", "speedboat", "tugboat", "vessel", "dinghy"),
    "traffic light": ("traffic light", "traffic signal", "stop light", "stoplight"),
    "fire hydrant": ("fire hydrant", "hydrant"),
    "stop sign": ("stop sign",),
    "parking meter": ("parking meter",),
    "bench": ("bench",),
    "bird": ("bird", "pigeon", "seagull", "gull", "duck", "goose", "swan", "parrot", "owl", "eagle",
             "hawk", "crow", "sparrow", "pelican", "flamingo", "penguin", "heron", "ostrich"),
    "cat": ("cat", "kitten", "kitty"),
    "dog": ("dog", "puppy", "pup", "doggy"),
    "horse": ("horse", "pony", "foal", "colt", "stallion", "mare"),
    "sheep": ("sheep", "lamb", "ewe"),
    "cow": ("cow", "cattle", "bull", "calf", "ox", "heifer"),
    "elephant": ("elephant",),
    "bear": ("bear", "polar bear", "grizzly", "grizzly bear", "cub"),
    "zebra": ("zebra",),
    "giraffe": ("giraffe",),
    "backpack": ("backpack", "back pack", "rucksack", "knapsack"),
    "umbrella": ("umbrella", "parasol"),
    "handbag": ("handbag", "hand bag", "purse"),
    "tie": ("tie", "necktie", "bow tie"),
    "suitcase": ("suitcase", "suit case", "luggage", "baggage"),
    "frisbee": ("frisbee", "flying disc"),
    "skis": ("ski", "skis"),
    "snowboard": ("snowboard",),
    "sports ball": ("ball", "sports ball", "soccer ball", "tennis ball", "golf ball", "beach ball"),
    "kite": ("kite",),
    "baseball bat": ("baseball bat", "bat"),
    "baseball glove": ("baseball glove", "mitt", "baseball mitt", "catcher mitt"),
    "skateboard": ("skateboard", "skate board"),
    "surfboard": ("surfboard", "surf board", "paddle board"),
    "tennis racket": ("tennis racket", "racket", "racquet", "tennis racquet"),
    "bottle": ("bottle",),
    "wine glass": ("wine glass", "wineglass", "champagne glass"),
    "cup": ("cup", "mug", "coffee cup", "teacup", "tea cup"),
    "fork": ("fork",),
    "knife": ("knife",),
    "spoon": ("spoon",),
    "bowl": ("bowl",),
    "banana": ("banana",),
    "apple": ("apple",),
    "sandwich": ("sandwich", "burger", "hamburger", "cheeseburger", "sub sandwich", "panini"),
    "orange": ("orange",),
    "broccoli": ("broccoli",),
    "carrot": ("carrot",),
    "hot dog": ("hot dog", "hotdog"),
    "pizza": ("pizza",),
    "donut": ("donut", "doughnut"),
    "cake": ("cake", "cupcake", "cheesecake"),
    "chair": ("chair", "armchair", "stool", "seat"),
    "couch": ("couch", "sofa", "loveseat", "love seat"),
    "potted plant": ("potted plant", "plant", "house plant", "houseplant", "flower pot", "flowerpot", "planter"),
    "bed": ("bed",),
    "dining table": ("dining table", "table", "desk", "coffee table", "picnic table", "kitchen table"),
    "toilet": ("toilet", "toilet seat", "urinal", "commode"),
    "tv": ("tv", "television", "monitor", "computer monitor", "computer screen", "tv screen"),
    "laptop": ("laptop", "laptop computer", "computer"),
    "mouse": ("mouse", "computer mouse"),
    "remote": ("remote", "remote control", "controller"),
    "keyboard": ("keyboard",),
    "cell phone": ("cell phone", "cellphone", "phone", "smartphone", "smart phone", "mobile phone", "iphone"),
    "microwave": ("microwave", "microwave oven"),
    "oven": ("oven", "stove", "stove top", "stovetop"),
    "toaster": ("toaster", "toaster oven"),
    "sink": ("sink",),
    "refrigerator": ("refrigerator", "fridge", "freezer"),
    "book": ("book", "textbook", "comic book"),
    "clock": ("clock", "alarm clock", "clock tower"),
    "vase": ("vase",),
    "scissors": ("scissors", "scissor"),
    "teddy bear": ("teddy bear", "teddy", "stuffed animal", "stuffed bear"),
    "hair drier": ("hair drier", "hair dryer", "hairdryer", "blow dryer", "blow drier"),
    "toothbrush": ("toothbrush", "tooth brush"),
}

#: Phrases that contain an object word but name no COCO object: they only consume their words.
NON_OBJECT_PHRASES: tuple[str, ...] = (
    "train track", "train station", "railroad track", "bus stop", "bus station", "orange juice",
    "flower bed", "river bed", "home plate", "tennis court", "car park", "apple juice",
    "street light", "cake batter",
)

#: Words that, before an animal's name, describe the animal rather than name a person.
ANIMAL_QUALIFIERS: tuple[str, ...] = ("baby", "adult", "young", "mother", "little")
ANIMALS: tuple[str, ...] = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
#: ``passenger train`` is a train, not a passenger.
PASSENGER_VEHICLES: tuple[str, ...] = ("airplane", "bus", "train", "boat", "car")
# fmt: on


@lru_cache(maxsize=1)
def chair_vocabulary() -> dict[str, str | None]:
    """Singularised phrase → COCO category (or ``None`` for a context phrase that names nothing)."""
    vocab: dict[str, str | None] = {}
    for category, names in COCO_SYNONYMS.items():
        for name in (category, *names):
            vocab[phrase_key(name)] = category
    for phrase in NON_OBJECT_PHRASES:
        vocab[phrase_key(phrase)] = None
    for animal in ANIMALS:
        for name in (animal, *COCO_SYNONYMS[animal]):
            if " " in name:
                continue
            for qualifier in ANIMAL_QUALIFIERS:
                vocab[phrase_key(f"{qualifier} {name}")] = animal
    for vehicle in PASSENGER_VEHICLES:
        for name in (vehicle, *COCO_SYNONYMS[vehicle]):
            if " " not in name:
                vocab[phrase_key(f"passenger {name}")] = vehicle
    return vocab


def vocabulary_from(table: Mapping[str, Iterable[str]]) -> dict[str, str | None]:
    """A CHAIR vocabulary (singularised phrase → category) from a synonym table: category → words."""
    vocab: dict[str, str | None] = {}
    for category, names in table.items():
        for name in (category, *names):
            vocab[phrase_key(name)] = str(category)
    return vocab


def read_synonyms(path: str | Path) -> dict[str, str | None]:
    """The CHAIR vocabulary of a synonym file, for images outside COCO's 80 categories.

    Two layouts: JSON, an object ``{"category": ["word", "plural", "synonym", ...]}``; or text in
    the layout of CHAIR's ``synonyms.txt``, one category per line, comma-separated, the category's
    name first. Raises :class:`~mmalign.errors.DataError` naming the file (and line) of a
    malformed entry.
    """
    from mmalign.data.jsonio import read_json, read_text
    from mmalign.errors import DataError

    path = Path(path).expanduser()
    if path.suffix == ".json":
        table = read_json(path, "synonym file")
        if not isinstance(table, dict):
            raise DataError("expected an object of category → list of words", source=str(path))
        for category, names in table.items():
            if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
                raise DataError(f"category {category!r}: expected a list of non-empty words", source=str(path))
        return vocabulary_from(table)
    if not path.is_file():
        raise DataError(f"synonym file not found: {path}")
    table = {}
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        names = [n.strip() for n in line.split(",")]
        if not all(names):
            raise DataError(f"empty word in {line.strip()!r}", source=f"{path}:{lineno}")
        table[names[0]] = names[1:]
    return vocabulary_from(table)
