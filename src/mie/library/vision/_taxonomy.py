"""One curated taxonomy for label names: Rekognition's ``Parents``, ``Aliases`` and ``Categories``.

Every class of the COCO detector (:data:`mie.library.vision.objects.COCO_NAMES`) has an entry, and so has every
parent named here, so a parent returned as a label of its own gets its categories too. Parents are listed most
specific first and agree with the ImageNet classifier's categories (:mod:`._categories`) where both name a label
(a cat is ``Pet``, ``Mammal``, ``Animal`` in both), so the two models' labels merge cleanly.

``Categories`` use Rekognition's top-level label category names (``Person Description``, ``Animals and Pets``,
``Vehicles and Automotive``, ...). A name without an entry of its own takes the categories of its parents.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """What Rekognition says about a label besides its name."""

    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


PERSON = ("Person Description",)
ANIMALS = ("Animals and Pets",)
VEHICLES = ("Vehicles and Automotive",)
FOOD = ("Food and Beverage",)
HOME = ("Home and Indoors",)
FURNITURE = ("Furniture and Furnishings",)
APPAREL = ("Apparel and Accessories",)
TECH = ("Technology and Computing",)
SPORTS = ("Sports",)
EVERYDAY = ("Everyday Objects",)
PLANTS = ("Plants and Flowers",)
TOYS = ("Toys and Gaming",)
TRAVEL = ("Travel and Adventure",)
SAFETY = ("Public Safety",)
DOCUMENTS = ("Text and Documents",)

_VEHICLE = ("Vehicle", "Transportation")
_MAMMAL = ("Mammal", "Animal")

#: Label name -> its entry.
TAXONOMY: dict[str, Entry] = {
    # People
    "Person": Entry((), ("Human",), PERSON),
    "Face": Entry(("Head", "Person"), (), PERSON),
    "Head": Entry(("Person",), (), PERSON),
    # Vehicles
    "Vehicle": Entry(("Transportation",), (), VEHICLES),
    "Transportation": Entry((), (), VEHICLES),
    "Bicycle": Entry(_VEHICLE, ("Bike",), VEHICLES),
    "Car": Entry(_VEHICLE, ("Automobile",), VEHICLES),
    "Motorcycle": Entry(_VEHICLE, ("Motorbike",), VEHICLES),
    "Airplane": Entry(("Aircraft", *_VEHICLE), ("Aeroplane", "Plane"), VEHICLES),
    "Aircraft": Entry(_VEHICLE, (), VEHICLES),
    "Bus": Entry(_VEHICLE, (), VEHICLES),
    "Train": Entry(_VEHICLE, (), VEHICLES),
    "Truck": Entry(_VEHICLE, ("Lorry",), VEHICLES),
    "Boat": Entry(("Watercraft", *_VEHICLE), (), VEHICLES),
    "Watercraft": Entry(_VEHICLE, (), VEHICLES),
    # Street
    "Traffic Light": Entry(("Light",), ("Stoplight",), SAFETY),
    "Light": Entry((), (), EVERYDAY),
    "Fire Hydrant": Entry((), ("Hydrant",), SAFETY),
    "Stop Sign": Entry(("Road Sign", "Sign", "Symbol"), (), SAFETY),
    "Road Sign": Entry(("Sign", "Symbol"), (), SAFETY),
    "Sign": Entry(("Symbol",), (), DOCUMENTS),
    "Symbol": Entry((), (), DOCUMENTS),
    "Parking Meter": Entry((), (), EVERYDAY),
    # Animals
    "Animal": Entry((), (), ANIMALS),
    "Mammal": Entry(("Animal",), (), ANIMALS),
    "Pet": Entry(_MAMMAL, (), ANIMALS),
    "Canine": Entry(_MAMMAL, (), ANIMALS),
    "Cattle": Entry(_MAMMAL, ("Livestock",), ANIMALS),
    "Bird": Entry(("Animal",), (), ANIMALS),
    "Cat": Entry(("Pet", *_MAMMAL), ("Kitty",), ANIMALS),
    "Dog": Entry(("Pet", "Canine", *_MAMMAL), ("Puppy",), ANIMALS),
    "Horse": Entry(_MAMMAL, (), ANIMALS),
    "Sheep": Entry(_MAMMAL, (), ANIMALS),
    "Cow": Entry(("Cattle", *_MAMMAL), (), ANIMALS),
    "Elephant": Entry(_MAMMAL, (), ANIMALS),
    "Bear": Entry(_MAMMAL, (), ANIMALS),
    "Zebra": Entry(_MAMMAL, (), ANIMALS),
    "Giraffe": Entry(_MAMMAL, (), ANIMALS),
    # Things people carry and wear
    "Accessories": Entry((), (), APPAREL),
    "Clothing": Entry((), ("Apparel",), APPAREL),
    "Formal Wear": Entry(("Clothing",), (), APPAREL),
    "Bag": Entry(("Accessories",), (), APPAREL),
    "Backpack": Entry(("Bag", "Accessories"), ("Rucksack",), APPAREL),
    "Handbag": Entry(("Bag", "Accessories"), ("Purse",), APPAREL),
    "Tie": Entry(("Accessories", "Formal Wear", "Clothing"), ("Necktie",), APPAREL),
    "Umbrella": Entry(("Accessories",), (), APPAREL),
    "Luggage": Entry(("Bag", "Accessories"), (), TRAVEL),
    "Suitcase": Entry(("Luggage", "Bag", "Accessories"), (), TRAVEL),
    # Sport and play
    "Sports Equipment": Entry((), (), SPORTS),
    "Toy": Entry((), (), TOYS),
    "Frisbee": Entry(("Toy",), (), SPORTS),
    "Ski": Entry(("Sports Equipment",), (), SPORTS),
    "Snowboard": Entry(("Sports Equipment",), (), SPORTS),
    "Ball": Entry(("Sports Equipment",), (), SPORTS),
    "Kite": Entry(("Toy",), (), TOYS),
    "Baseball Bat": Entry(("Sports Equipment",), (), SPORTS),
    "Baseball Glove": Entry(("Sports Equipment",), ("Baseball Mitt",), SPORTS),
    "Skateboard": Entry(("Sports Equipment",), (), SPORTS),
    "Surfboard": Entry(("Sports Equipment",), (), SPORTS),
    "Tennis Racket": Entry(("Racket", "Sports Equipment"), (), SPORTS),
    "Racket": Entry(("Sports Equipment",), (), SPORTS),
    "Teddy Bear": Entry(("Toy",), (), TOYS),
    # Kitchen and table
    "Tableware": Entry((), (), FOOD),
    "Cutlery": Entry(("Kitchen Utensil",), (), FOOD),
    "Kitchen Utensil": Entry((), (), HOME),
    "Bottle": Entry((), (), EVERYDAY),
    "Wine Glass": Entry(("Glass", "Tableware"), ("Goblet",), FOOD),
    "Glass": Entry(("Tableware",), (), FOOD),
    "Cup": Entry(("Tableware",), ("Mug",), FOOD),
    "Fork": Entry(("Cutlery", "Kitchen Utensil"), (), FOOD),
    "Knife": Entry(("Cutlery", "Kitchen Utensil"), (), FOOD),
    "Spoon": Entry(("Cutlery", "Kitchen Utensil"), (), FOOD),
    "Bowl": Entry(("Tableware",), (), FOOD),
    # Food
    "Food": Entry((), (), FOOD),
    "Plant": Entry((), (), PLANTS),
    "Fruit": Entry(("Plant", "Food"), (), FOOD),
    "Vegetable": Entry(("Plant", "Food"), (), FOOD),
    "Dessert": Entry(("Food",), (), FOOD),
    "Banana": Entry(("Fruit", "Plant", "Food"), (), FOOD),
    "Apple": Entry(("Fruit", "Plant", "Food"), (), FOOD),
    "Orange": Entry(("Fruit", "Plant", "Food"), (), FOOD),
    "Broccoli": Entry(("Vegetable", "Plant", "Food"), (), FOOD),
    "Carrot": Entry(("Vegetable", "Plant", "Food"), (), FOOD),
    "Sandwich": Entry(("Food",), (), FOOD),
    "Hot Dog": Entry(("Food",), (), FOOD),
    "Pizza": Entry(("Food",), (), FOOD),
    "Donut": Entry(("Dessert", "Food"), ("Doughnut",), FOOD),
    "Cake": Entry(("Dessert", "Food"), (), FOOD),
    # Furniture and the home
    "Furniture": Entry((), (), FURNITURE),
    "Table": Entry(("Furniture",), (), FURNITURE),
    "Bench": Entry(("Furniture",), (), FURNITURE),
    "Chair": Entry(("Furniture",), ("Seat",), FURNITURE),
    "Couch": Entry(("Furniture",), ("Sofa",), FURNITURE),
    "Bed": Entry(("Furniture",), (), FURNITURE),
    "Dining Table": Entry(("Table", "Furniture"), (), FURNITURE),
    "Potted Plant": Entry(("Plant",), ("Houseplant",), PLANTS),
    "Toilet": Entry((), (), HOME),
    "Sink": Entry((), (), HOME),
    "Vase": Entry(("Pottery",), (), HOME),
    "Pottery": Entry((), (), HOME),
    "Clock": Entry((), (), EVERYDAY),
    "Book": Entry(("Publication",), (), DOCUMENTS),
    "Publication": Entry((), (), DOCUMENTS),
    "Scissors": Entry((), (), EVERYDAY),
    "Toothbrush": Entry((), (), EVERYDAY),
    "Appliance": Entry((), (), HOME),
    "Microwave": Entry(("Appliance",), (), HOME),
    "Oven": Entry(("Appliance",), (), HOME),
    "Toaster": Entry(("Appliance",), (), HOME),
    "Refrigerator": Entry(("Appliance",), ("Fridge",), HOME),
    "Hair Dryer": Entry(("Appliance",), ("Blow Dryer",), HOME),
    # Electronics
    "Electronics": Entry((), (), TECH),
    "Screen": Entry(("Electronics",), (), TECH),
    "Computer": Entry(("Electronics",), (), TECH),
    "Computer Hardware": Entry(("Electronics",), (), TECH),
    "Phone": Entry(("Electronics",), (), TECH),
    "TV": Entry(("Screen", "Electronics"), ("Television",), TECH),
    "Laptop": Entry(("Computer", "Electronics"), (), TECH),
    "Mouse": Entry(("Computer Hardware", "Electronics"), (), TECH),
    "Keyboard": Entry(("Computer Hardware", "Electronics"), (), TECH),
    "Remote Control": Entry(("Electronics",), ("Remote",), TECH),
    "Mobile Phone": Entry(("Phone", "Electronics"), ("Cell Phone",), TECH),
}

#: Categories of the ImageNet classifier's own top-level categories (:data:`._categories.PARENTS` roots) that the
#: table above does not name, so the classifier's labels get categories too.
ROOT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Structure": ("Buildings and Architecture",),
    "Nature": ("Nature and Outdoors",),
    "Fungus": PLANTS,
    "Musical Instrument": ("Hobbies and Interests",),
    "Tool": ("Tools and Machinery",),
    "Weapon": ("Weapons and Military",),
    "Lamp": HOME,
    "Box": EVERYDAY,
}


def parents(name: str) -> tuple[str, ...]:
    """Parents of ``name``, most specific first (empty when unknown)."""
    found = TAXONOMY.get(name)
    return found.parents if found else ()


def aliases(name: str) -> tuple[str, ...]:
    """Other names of ``name``."""
    found = TAXONOMY.get(name)
    return found.aliases if found else ()


def categories(name: str, label_parents: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Categories of a label: its own entry's, else those of its parents (``label_parents``, from whichever model
    named it) in order, without repeats."""
    found = TAXONOMY.get(name)
    if found and found.categories:
        return found.categories
    if name in ROOT_CATEGORIES:
        return ROOT_CATEGORIES[name]
    seen: list[str] = []
    for parent in label_parents:
        parent_entry = TAXONOMY.get(parent)
        for category in parent_entry.categories if parent_entry else ROOT_CATEGORIES.get(parent, ()):
            if category not in seen:
                seen.append(category)
    return tuple(seen)
