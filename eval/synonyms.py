"""The object vocabulary of CHAIR: the 80 COCO categories and the words captions use for them.

:data:`COCO_SYNONYMS` is the table of the CHAIR paper's release (``synonyms.txt`` of
Rohrbach et al., "Object hallucination in image captioning", EMNLP 2018, published with its code at
github.com/LisaAnne/Hallucination; HALVA's ``eval_chair.py`` embeds the same table), in this
project's format: category → the other words for it. The table is data: CHAIR scores are only
comparable when every scorer uses the same one. Three entries of the released file can never
match and are left out: ``motor bike`` and ``cheesecake`` follow a double space there, so the
official reader keeps a leading space in them, and ``iPhone`` has a capital while captions are
lower-cased. Words are matched after lemmatising (``dogs`` → ``dog``), so plurals are not listed.

:data:`COCO_DOUBLE_WORDS` holds CHAIR's two-word rules: pairs of lemmas read as one word, so that
``hot dog`` is food and not a dog, ``baby elephant`` an elephant and not a person, ``passenger
train`` a train, ``toilet seat`` a toilet and not a chair, and ``home plate`` / ``train track``
name nothing. Besides, a caption that names a toilet has no chair ``seat`` (see
:func:`mmalign.eval.metrics.chair.coco_mentions`).

Other object sets (``synonyms_file``) are read by :func:`read_synonyms`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .text import phrase_key

# fmt: off
COCO_SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": ("girl", "boy", "man", "woman", "kid", "child", "chef", "baker", "people", "adult", "rider",
        "children", "baby", "worker", "passenger", "sister", "biker", "policeman", "cop", "officer", "lady",
        "cowboy", "bride", "groom", "male", "female", "guy", "traveler", "mother", "father", "gentleman",
        "pitcher", "player", "skier", "snowboarder", "skater", "skateboarder", "foreigner", "caller", "offender",
        "coworker", "trespasser", "patient", "politician", "soldier", "grandchild", "serviceman", "walker",
        "drinker", "doctor", "bicyclist", "thief", "buyer", "teenager", "student", "camper", "driver", "solider",
        "hunter", "shopper", "villager"),
    "bicycle": ("bike", "unicycle", "minibike", "trike"),
    "car": ("automobile", "van", "minivan", "sedan", "suv", "hatchback", "cab", "jeep", "coupe", "taxicab", "limo",
        "taxi"),
    "motorcycle": ("scooter", "motor cycle", "motorbike", "moped"),
    "airplane": ("jetliner", "plane", "air plane", "monoplane", "aircraft", "jet", "airbus", "biplane", "seaplane"),
    "bus": ("minibus", "trolley"),
    "train": ("locomotive", "tramway", "caboose"),
    "truck": ("pickup", "lorry", "hauler", "firetruck"),
    "boat": ("ship", "liner", "sailboat", "motorboat", "dinghy", "powerboat", "speedboat", "canoe", "skiff",
        "yacht", "kayak", "catamaran", "pontoon", "houseboat", "vessel", "rowboat", "trawler", "ferryboat",
        "watercraft", "tugboat", "schooner", "barge", "ferry", "sailboard", "paddleboat", "lifeboat", "freighter",
        "steamboat", "riverboat", "battleship", "steamship"),
    "traffic light": ("street light", "traffic signal", "stop light", "streetlight", "stoplight"),
    "fire hydrant": ("hydrant",),
    "stop sign": (),
    "parking meter": (),
    "bench": ("pew",),
    "bird": ("ostrich", "owl", "seagull", "goose", "duck", "parakeet", "falcon", "robin", "pelican", "waterfowl",
        "heron", "hummingbird", "mallard", "finch", "pigeon", "sparrow", "seabird", "osprey", "blackbird", "fowl",
        "shorebird", "woodpecker", "egret", "chickadee", "quail", "bluebird", "kingfisher", "buzzard", "willet",
        "gull", "swan", "bluejay", "flamingo", "cormorant", "parrot", "loon", "gosling", "waterbird", "pheasant",
        "rooster", "sandpiper", "crow", "raven", "turkey", "oriole", "cowbird", "warbler", "magpie", "peacock",
        "cockatiel", "lorikeet", "puffin", "vulture", "condor", "macaw", "peafowl", "cockatoo", "songbird"),
    "cat": ("kitten", "feline", "tabby"),
    "dog": ("puppy", "beagle", "pup", "chihuahua", "schnauzer", "dachshund", "rottweiler", "canine", "pitbull",
        "collie", "pug", "terrier", "poodle", "labrador", "doggie", "doberman", "mutt", "doggy", "spaniel",
        "bulldog", "sheepdog", "weimaraner", "corgi", "cocker", "greyhound", "retriever", "brindle", "hound",
        "whippet", "husky"),
    "horse": ("colt", "pony", "racehorse", "stallion", "equine", "mare", "foal", "palomino", "mustang",
        "clydesdale", "bronc", "bronco"),
    "sheep": ("lamb", "ram", "goat", "ewe"),
    "cow": ("cattle", "oxen", "ox", "calf", "holstein", "heifer", "buffalo", "bull", "zebu", "bison"),
    "elephant": (),
    "bear": ("panda",),
    "zebra": (),
    "giraffe": (),
    "backpack": ("knapsack",),
    "umbrella": (),
    "handbag": ("wallet", "purse", "briefcase"),
    "tie": ("bow", "bow tie"),
    "suitcase": ("suit case", "luggage"),
    "frisbee": (),
    "skis": ("ski",),
    "snowboard": (),
    "sports ball": ("ball",),
    "kite": (),
    "baseball bat": (),
    "baseball glove": (),
    "skateboard": (),
    "surfboard": ("longboard", "skimboard", "shortboard", "wakeboard"),
    "tennis racket": ("racket",),
    "bottle": (),
    "wine glass": (),
    "cup": (),
    "fork": (),
    "knife": ("pocketknife", "knive"),
    "spoon": (),
    "bowl": ("container",),
    "banana": (),
    "apple": (),
    "sandwich": ("burger", "sub", "cheeseburger", "hamburger"),
    "orange": (),
    "broccoli": (),
    "carrot": (),
    "hot dog": (),
    "pizza": (),
    "donut": ("doughnut", "bagel"),
    "cake": ("cupcake", "shortcake", "coffeecake", "pancake"),
    "chair": ("seat", "stool"),
    "couch": ("sofa", "recliner", "futon", "loveseat", "settee", "chesterfield"),
    "potted plant": ("houseplant",),
    "bed": (),
    "dining table": ("table", "desk"),
    "toilet": ("urinal", "commode", "lavatory", "potty"),
    "tv": ("monitor", "televison", "television"),
    "laptop": ("computer", "notebook", "netbook", "lenovo", "macbook", "laptop computer"),
    "mouse": (),
    "remote": (),
    "keyboard": (),
    "cell phone": ("mobile phone", "phone", "cellphone", "telephone", "phon", "smartphone"),
    "microwave": (),
    "oven": ("stovetop", "stove", "stove top oven"),
    "toaster": (),
    "sink": (),
    "refrigerator": ("fridge", "freezer"),
    "book": (),
    "clock": (),
    "vase": (),
    "scissors": (),
    "teddy bear": ("teddybear",),
    "hair drier": ("hairdryer",),
    "toothbrush": (),
}

#: CHAIR's two-word phrases that stand for the same phrase (matched as one word, then looked up).
_COMPOUNDS = (
    "motor bike", "motor cycle", "air plane", "traffic light", "street light", "traffic signal", "stop light",
    "fire hydrant", "stop sign", "parking meter", "suit case", "sports ball", "baseball bat", "baseball glove",
    "tennis racket", "wine glass", "hot dog", "cell phone", "mobile phone", "teddy bear", "hair drier",
    "potted plant", "laptop computer", "home plate", "train track",
)
#: "baby X" and "adult X" are the animal X, not a person.
_ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "animal", "cub")
#: "passenger X" is the vehicle X, not a passenger.
_VEHICLES = ("jet", "train")
# fmt: on

COCO_DOUBLE_WORDS: dict[str, str] = {
    **{phrase: phrase for phrase in _COMPOUNDS},
    **{f"{age} {animal}": animal for animal in _ANIMALS for age in ("baby", "adult")},
    **{f"passenger {vehicle}": vehicle for vehicle in _VEHICLES},
    "bow tie": "tie",
    "toilet seat": "toilet",
    "wine glas": "wine glass",  # the lemma of "glasses" in some lemmatisers
}

#: Word (or merged two-word phrase) → COCO category.
COCO_WORDS: dict[str, str] = {word: category for category, words in COCO_SYNONYMS.items() for word in (category, *words)}


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
