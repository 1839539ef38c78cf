"""A synthetic arithmetic word-problem task with a programmatic teacher.

This is a *small training task* for the tiny default model that is trained on CPU, not
a math benchmark: every problem is a short everyday story (a shop, a farm, a factory,
a trip, savings, a school, ...) whose answer is an integer computed from the numbers
in the story by 2 to 4 operations (``+``, ``-``, ``*`` and exact ``//`` for sharing
equally).  The operands have 2 to 4 digits and products reach 7 digits, so that the
arithmetic is hard to do "in the head" for a small model and easy with the
interpreter: the task rewards the tool use that ToRA teaches.

Each problem comes from one of the templates in :data:`TEMPLATES`; each template has
several wordings and some of them present the facts in a random order.  A teacher
writes, for every problem:

* :func:`tora_solution`: a ToRA trajectory in the shared format of
  :mod:`langchain_tora.trajectory` (a one-sentence rationale, a python block that
  names the numbers of the question and prints the answer, the output block the
  interpreter returns in the 2023-10 style, a sentence with ``$\\boxed{...}$``).  A
  fraction of them (``error_rate``) first write a block with a mistake (a misspelt
  name, or a step used before it is computed), see the ``NameError`` the
  interpreter shows, say what went wrong and write the corrected block.  Every output
  block is obtained by actually running the block.
* :func:`cot_solution`: the same computation in words, for a chain-of-thought
  baseline.

Example:
    >>> import random
    >>> problem = generate_problems(1, seed=3)[0]
    >>> problem.answer == str(eval(problem.expression))
    True
    >>> text = tora_solution(problem, rng=random.Random(0), error_rate=0.0)
    >>> text.endswith(f"$\\\\boxed{{{problem.answer}}}$.")
    True

A trajectory looks like this (``shop_change``)::

    Let's compute the change with Python.
    ```python
    import re
    question = "Sam buys 28 lamps at $347 each and pays with $10000. How much change ..."
    count, price, paid = map(int, re.findall(r"\\d+", question))
    cost = price * count
    change = paid - cost
    print(change)
    ```
    ```output
    284
    ```
    The answer is $\\boxed{284}$.

The program copies the question and lets Python pick out its numbers: a tiny model
copies a sentence reliably but puts numbers into the wrong variables when it must find
each one itself (measured: 35% solved after 1,500 steps that way).
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import keyword
import math
import random
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from langchain_tora.interpreters.base import Execution, render_execution
from langchain_tora.trajectory import PYTHON_FENCE, output_block

DATASET_NAME = "synthetic-arithmetic"
"""The ``dataset`` field of the training records."""

DEFAULT_ERROR_RATE = 0.15
"""Default fraction of ToRA trajectories that show an error and its correction."""

MAX_ANSWER = 10_000_000
"""Answers (and every intermediate value) stay below this bound."""

Style = Literal["tora", "cot"]

# ---------------------------------------------------------------------------
# Problems and templates
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyntheticProblem:
    """One generated word problem.

    Attributes:
        question: the problem text.
        answer: the exact integer answer as a string (``"7761"``).
        template: the id of the template it came from (``"shop_change"``).
        numbers: the numbers of the question, in the template's input order.
        expression: a python expression of those numbers that computes the answer,
            e.g. ``"(347 * 28) - 1955"``.

    Example:
        >>> p = generate_problems(1, seed=0)[0]
        >>> str(eval(p.expression)) == p.answer
        True
    """

    question: str
    answer: str
    template: str
    numbers: tuple[int, ...]
    expression: str


Step = tuple[str, str, str]
"""``(variable, "left op right", label)``: one operation of a template."""

Sampler = Callable[[random.Random], dict[str, int]]
Text = str | tuple[str, ...]
"""A wording: a format string, or sentences whose facts (all but the last) are shuffled."""


@dataclass(frozen=True, slots=True)
class Template:
    """A family of word problems with one computation.

    Attributes:
        id: the template id stored in :attr:`SyntheticProblem.template`.
        goal: what the question asks for, as a noun phrase (``"the change"``).
        inputs: the variable names of the numbers, in order.
        steps: the operations, one binary operation each; the last one is the answer.
        sample: draws the numbers (a dict over ``inputs``).
        texts: the wordings (see :data:`Text`).
        slots: words filled in at random (``{"item": ("lamps", "chairs")}``);
            ``{name}`` is always available.
    """

    id: str
    goal: str
    inputs: tuple[str, ...]
    steps: tuple[Step, ...]
    sample: Sampler
    texts: tuple[Text, ...]
    slots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


NAMES: tuple[str, ...] = (
    "Ana", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal",
    "Kim", "Leo", "Maya", "Nora", "Omar", "Priya", "Sam", "Tara", "Victor", "Wen",
)  # fmt: skip

_OPS = ("+", "-", "*", "//")


def _multiple_of(x: int, q: int) -> int:
    """The largest multiple of ``q`` not above ``x`` (at least ``q``)."""
    return max(q, x - x % q)


def _s_shop_change(r: random.Random) -> dict[str, int]:
    price, count = r.randint(120, 999), r.randint(12, 95)
    return {
        "price": price,
        "count": count,
        "paid": (price * count // 1000 + r.randint(1, 4)) * 1000,
    }


def _s_factory_boxes(r: random.Random) -> dict[str, int]:
    box = r.choice((12, 15, 16, 20, 24, 25, 30, 36, 40, 48, 50))
    days = r.randint(6, 30)
    per_day = _multiple_of(r.randint(150, 2400), box // math.gcd(box, days))
    return {"per_day": per_day, "days": days, "box": box, "shipped": r.randint(20, 400)}


def _s_bakery_share(r: random.Random) -> dict[str, int]:
    trays, per_tray, shops = r.randint(20, 160), r.randint(12, 36), r.randint(4, 24)
    kept = r.randint(30, 400)
    kept += (trays * per_tray - kept) % shops
    return {"trays": trays, "per_tray": per_tray, "kept": kept, "shops": shops}


def _s_fuel(r: random.Random) -> dict[str, int]:
    per_litre, trips = r.randint(6, 15), r.randint(12, 90)
    km = _multiple_of(r.randint(35, 480), per_litre // math.gcd(per_litre, trips))
    return {"trips": trips, "km": km, "per_litre": per_litre}


def _s_water_tank(r: random.Random) -> dict[str, int]:
    rate, minutes, current = r.randint(12, 85), r.randint(15, 240), r.randint(100, 5000)
    return {"capacity": current + rate * minutes, "current": current, "rate": rate}


def _s_teams(r: random.Random) -> dict[str, int]:
    size, teams = r.randint(6, 15), r.randint(20, 150)
    total = size * teams
    boys = r.randint(total // 4, 3 * total // 4)
    return {"boys": boys, "girls": total - boys, "size": size}


def _s_flour_bags(r: random.Random) -> dict[str, int]:
    bag, grams, days = r.choice((1000, 2000, 5000)), 50 * r.randint(3, 12), r.randint(5, 30)
    cakes = _multiple_of(r.randint(12, 90), bag // math.gcd(bag, grams * days))
    return {"grams": grams, "cakes": cakes, "days": days, "bag": bag}


def _s_prize_share(r: random.Random) -> dict[str, int]:
    winners, share = r.randint(3, 24), r.randint(250, 4500)
    gift = r.randint(20, min(999, share - 1))
    return {"prize": winners * share, "winners": winners, "gift": gift}


def _s_school_trip(r: random.Random) -> dict[str, int]:
    seats, buses, teachers = r.randint(30, 60), r.randint(4, 25), r.randint(8, 40)
    return {
        "students": seats * buses - teachers,
        "teachers": teachers,
        "seats": seats,
        "price": r.randint(150, 900),
    }


def _s_harvest(r: random.Random) -> dict[str, int]:
    sack, fields = r.randint(10, 50), r.randint(3, 18)
    kg = _multiple_of(r.randint(400, 4000), sack // math.gcd(sack, fields))
    return {"kg": kg, "fields": fields, "sack": sack, "price": r.randint(12, 60)}


def _s_catering(r: random.Random) -> dict[str, int]:
    tables, per_table, per_guest = r.randint(12, 80), r.randint(6, 12), r.randint(2, 5)
    pack = r.choice((6, 8, 10, 12, 20, 24))
    extra = r.randint(20, 200)
    extra += -(tables * per_table * per_guest + extra) % pack
    return {
        "tables": tables,
        "per_table": per_table,
        "per_guest": per_guest,
        "extra": extra,
        "pack": pack,
    }


def _s_bulk_discount(r: random.Random) -> dict[str, int]:
    count, price = r.randint(25, 480), r.randint(120, 950)
    return {"count": count, "price": price, "discount": r.randint(5, price // 3)}


def _s_compare_shops(r: random.Random) -> dict[str, int]:
    count, price_a = r.randint(25, 400), r.randint(150, 900)
    return {"count": count, "price_a": price_a, "price_b": r.randint(100, price_a - 1)}


def _s_population(r: random.Random) -> dict[str, int]:
    people, born = r.randint(2000, 9500), r.randint(60, 400)
    return {
        "people": people,
        "born": born,
        "moved": r.randint(20, born - 10),
        "years": r.randint(5, 25),
    }


def _uniform(**ranges: tuple[int, int]) -> Sampler:
    """A sampler drawing each input independently from an inclusive range."""

    def sample(r: random.Random) -> dict[str, int]:
        return {k: r.randint(lo, hi) for k, (lo, hi) in ranges.items()}

    return sample


TEMPLATES: tuple[Template, ...] = (
    Template(
        id="shop_change",
        goal="the change",
        inputs=("price", "count", "paid"),
        steps=(("cost", "price * count", "the cost"), ("change", "paid - cost", "the change")),
        sample=_s_shop_change,
        texts=(
            "{name} buys {count} {item} at ${price} each and pays with ${paid}. "
            "How much change does {name} get, in dollars?",
            (
                "A store sells {item} for ${price} each.",
                "{name} buys {count} {item} and pays with ${paid}.",
                "How many dollars of change does {name} get back?",
            ),
            "How much change, in dollars, does {name} get after paying ${paid} for "
            "{count} {item} that cost ${price} each?",
        ),
        slots={"item": ("lamps", "chairs", "jackets", "tablets", "bicycles", "heaters")},
    ),
    Template(
        id="farm_eggs",
        goal="the number of unbroken eggs",
        inputs=("hens", "eggs", "weeks", "broken"),
        steps=(
            ("per_week", "hens * eggs", "the number of eggs per week"),
            ("laid", "per_week * weeks", "the number of eggs laid"),
            ("good", "laid - broken", "the number of unbroken eggs"),
        ),
        sample=_uniform(hens=(120, 980), eggs=(4, 7), weeks=(6, 52), broken=(150, 2500)),
        texts=(
            "A farm has {hens} hens. Each hen lays {eggs} eggs a week. Over {weeks} weeks, "
            "{broken} of the eggs break. How many unbroken eggs does the farm collect?",
            (
                "{name}'s farm has {hens} hens.",
                "Every hen lays {eggs} eggs per week.",
                "{broken} eggs break during {weeks} weeks of collecting.",
                "How many eggs are left unbroken after the {weeks} weeks?",
            ),
        ),
    ),
    Template(
        id="factory_boxes",
        goal="the number of boxes left",
        inputs=("per_day", "days", "box", "shipped"),
        steps=(
            ("made", "per_day * days", "the number of items made"),
            ("boxes", "made // box", "the number of boxes"),
            ("left", "boxes - shipped", "the number of boxes left"),
        ),
        sample=_s_factory_boxes,
        texts=(
            "A factory makes {per_day} {item} a day for {days} days. The {item} are packed "
            "in boxes of {box}, and {shipped} boxes have already been shipped. "
            "How many boxes are still at the factory?",
            "A workshop produces {per_day} {item} every day. After {days} days, all the "
            "{item} are packed {box} to a box. Then {shipped} boxes are sent to shops. "
            "How many boxes remain?",
        ),
        slots={"item": ("toys", "bottles", "cups", "candles", "bricks")},
    ),
    Template(
        id="travel_distance",
        goal="the total distance",
        inputs=("speed", "days", "speed2", "days2"),
        steps=(
            ("first", "speed * days", "the first distance"),
            ("second", "speed2 * days2", "the second distance"),
            ("total", "first + second", "the total distance"),
        ),
        sample=_uniform(speed=(210, 890), days=(11, 60), speed2=(210, 890), days2=(11, 60)),
        texts=(
            "A freight train travels {speed} km a day for {days} days, then {speed2} km a "
            "day for {days2} days. How many km does it travel in total?",
            "{name} drives {speed} km each day for {days} days and then {speed2} km each day "
            "for {days2} days. How many km does {name} drive altogether?",
            "A truck covers {speed} km per day during the first {days} days of a trip. For the "
            "next {days2} days it covers {speed2} km per day. What is the total distance of "
            "the trip in km?",
        ),
    ),
    Template(
        id="savings",
        goal="the money left",
        inputs=("start", "weekly", "weeks", "spent"),
        steps=(
            ("saved", "weekly * weeks", "the amount saved"),
            ("total", "start + saved", "the total"),
            ("left", "total - spent", "the money left"),
        ),
        sample=_uniform(start=(150, 4800), weekly=(25, 480), weeks=(12, 52), spent=(200, 9000)),
        texts=(
            "{name} has ${start} in savings and saves ${weekly} every week for {weeks} weeks. "
            "Then {name} spends ${spent} on a {thing}. How many dollars does {name} have left?",
            "{name} starts with ${start} in a savings account. Each week for {weeks} weeks, "
            "{name} adds ${weekly}. At the end, {name} takes out ${spent} for a {thing}. "
            "How much money is left in the account?",
        ),
        slots={"thing": ("laptop", "bicycle", "trip", "piano", "sofa")},
    ),
    Template(
        id="school_supplies",
        goal="the total number of items",
        inputs=("classes", "students", "per_student", "spare"),
        steps=(
            ("per_class", "students * per_student", "the number per class"),
            ("needed", "per_class * classes", "the number for all classes"),
            ("total", "needed + spare", "the total number"),
        ),
        sample=_uniform(classes=(12, 48), students=(18, 35), per_student=(3, 12), spare=(40, 600)),
        texts=(
            "A school has {classes} classes with {students} students in each class. Every "
            "student gets {per_student} {item}, and the school keeps {spare} extra {item}. "
            "How many {item} does the school order?",
            (
                "A school has {classes} classes of {students} students.",
                "Every student gets {per_student} {item}.",
                "The school needs {spare} spare {item} for its office.",
                "How many {item} does the school order in total?",
            ),
        ),
        slots={"item": ("pencils", "notebooks", "markers", "erasers")},
    ),
    Template(
        id="library_books",
        goal="the number of books on the shelves",
        inputs=("books", "boxes", "per_box", "lent"),
        steps=(
            ("new", "boxes * per_box", "the number of new books"),
            ("owned", "books + new", "the number of books owned"),
            ("shelved", "owned - lent", "the number of books on the shelves"),
        ),
        sample=_uniform(books=(1200, 9800), boxes=(12, 85), per_box=(12, 48), lent=(150, 1100)),
        texts=(
            "A library has {books} books. It buys {boxes} boxes with {per_box} books in each "
            "box. On Monday {lent} books are lent out. How many books are on the shelves?",
            (
                "The town library owns {books} books.",
                "{lent} of the library's books are lent out.",
                "A delivery brings {boxes} boxes holding {per_box} books each.",
                "How many books are on the shelves now?",
            ),
        ),
    ),
    Template(
        id="bakery_share",
        goal="the number each one gets",
        inputs=("trays", "per_tray", "kept", "shops"),
        steps=(
            ("baked", "trays * per_tray", "the number baked"),
            ("shared", "baked - kept", "the number shared"),
            ("each", "shared // shops", "the number each one gets"),
        ),
        sample=_s_bakery_share,
        texts=(
            "A bakery bakes {trays} trays of {per_tray} {item} each. It keeps {kept} {item} "
            "for its own café and shares the rest equally among {shops} shops. "
            "How many {item} does each shop get?",
            "{name} bakes {trays} trays with {per_tray} {item} on each tray. After keeping "
            "{kept} {item}, {name} divides the rest equally among {shops} schools. "
            "How many {item} does each school get?",
        ),
        slots={"item": ("cookies", "muffins", "rolls", "buns")},
    ),
    Template(
        id="orchard",
        goal="the number of fruits",
        inputs=("rows", "trees", "per_tree"),
        steps=(
            ("per_row", "trees * per_tree", "the number per row"),
            ("total", "per_row * rows", "the total number"),
        ),
        sample=_uniform(rows=(12, 60), trees=(15, 80), per_tree=(110, 420)),
        texts=(
            "An orchard has {rows} rows of {trees} trees. Each tree gives {per_tree} {item}. "
            "How many {item} does the orchard produce?",
            (
                "Every tree in {name}'s orchard gives {per_tree} {item} a year.",
                "The orchard has {rows} rows with {trees} trees in each row.",
                "How many {item} does the orchard give in a year?",
            ),
        ),
        slots={"item": ("apples", "pears", "plums", "oranges", "lemons")},
    ),
    Template(
        id="wages",
        goal="the money left",
        inputs=("rate", "hours", "weeks", "bills"),
        steps=(
            ("weekly", "rate * hours", "the weekly pay"),
            ("earned", "weekly * weeks", "the pay"),
            ("left", "earned - bills", "the money left"),
        ),
        sample=_uniform(rate=(14, 65), hours=(20, 48), weeks=(4, 30), bills=(500, 9500)),
        texts=(
            "{name} earns ${rate} an hour and works {hours} hours a week. After {weeks} weeks, "
            "{name} has paid ${bills} in bills. How many dollars does {name} have left?",
            (
                "{name} works {hours} hours every week.",
                "The pay is ${rate} per hour.",
                "Over {weeks} weeks, {name} spends ${bills} on bills.",
                "How much of the pay is left?",
            ),
        ),
    ),
    Template(
        id="warehouse",
        goal="the number left",
        inputs=("stock", "trucks", "per_truck", "shipped"),
        steps=(
            ("received", "trucks * per_truck", "the number received"),
            ("total", "stock + received", "the total"),
            ("left", "total - shipped", "the number left"),
        ),
        sample=_uniform(
            stock=(1500, 9500), trucks=(6, 40), per_truck=(120, 650), shipped=(1000, 12000)
        ),
        texts=(
            "A warehouse holds {stock} {item}. {trucks} trucks arrive, each carrying "
            "{per_truck} {item}. Then {shipped} {item} are shipped to stores. "
            "How many {item} are in the warehouse now?",
            "How many {item} are left in a warehouse that had {stock} {item}, received "
            "{trucks} loads of {per_truck} {item}, and sent out {shipped} {item}?",
        ),
        slots={"item": ("crates", "tires", "bags of rice", "boxes of tea")},
    ),
    Template(
        id="ticket_sales",
        goal="the ticket income",
        inputs=("adults", "adult_price", "children", "child_price"),
        steps=(
            ("adult_sales", "adults * adult_price", "the adult ticket income"),
            ("child_sales", "children * child_price", "the child ticket income"),
            ("total", "adult_sales + child_sales", "the ticket income"),
        ),
        sample=_uniform(
            adults=(120, 2500), adult_price=(18, 95), children=(80, 1800), child_price=(8, 45)
        ),
        texts=(
            (
                "Adult tickets to the {event} cost ${adult_price}.",
                "Child tickets to the {event} cost ${child_price}.",
                "The {event} sold {adults} adult tickets and {children} child tickets.",
                "How many dollars did the ticket sales bring in?",
            ),
            "A {event} sells {adults} adult tickets at ${adult_price} each and {children} "
            "child tickets at ${child_price} each. What is the total ticket income in dollars?",
        ),
        slots={"event": ("concert", "fair", "museum", "zoo", "circus")},
    ),
    Template(
        id="flooring",
        goal="the total cost",
        inputs=("length", "width", "price", "fee"),
        steps=(
            ("area", "length * width", "the area"),
            ("material", "area * price", "the cost of the floor"),
            ("total", "material + fee", "the total cost"),
        ),
        sample=_uniform(length=(12, 95), width=(8, 60), price=(15, 85), fee=(150, 2500)),
        texts=(
            "A {place} is {length} m long and {width} m wide. Flooring costs ${price} per "
            "square metre, plus ${fee} for fitting. How much does it cost to floor the {place}?",
            "A {place} floor measures {length} m by {width} m. The tiles cost ${price} per "
            "square metre and the builder charges ${fee} for the work. What is the total cost "
            "in dollars?",
        ),
        slots={"place": ("hall", "gym", "shop", "warehouse")},
    ),
    Template(
        id="fuel",
        goal="the fuel used",
        inputs=("trips", "km", "per_litre"),
        steps=(
            ("distance", "trips * km", "the distance"),
            ("fuel", "distance // per_litre", "the fuel used"),
        ),
        sample=_s_fuel,
        texts=(
            "A delivery van makes {trips} trips of {km} km each. It goes {per_litre} km on one "
            "litre of fuel. How many litres of fuel does it use?",
            "{name}'s truck drives {per_litre} km per litre of diesel. This month it made "
            "{trips} trips, each {km} km long. How many litres of diesel did it use?",
        ),
    ),
    Template(
        id="water_tank",
        goal="the number of minutes",
        inputs=("capacity", "current", "rate"),
        steps=(
            ("missing", "capacity - current", "the missing water"),
            ("minutes", "missing // rate", "the number of minutes"),
        ),
        sample=_s_water_tank,
        texts=(
            "A tank holds {capacity} litres and already has {current} litres in it. A pump "
            "adds {rate} litres a minute. How many minutes does it take to fill the tank?",
            "A pump fills a pool at {rate} litres per minute. The pool holds {capacity} litres "
            "when full and now contains {current} litres. How many minutes until it is full?",
        ),
    ),
    Template(
        id="reading",
        goal="the pages left",
        inputs=("books", "pages", "per_day", "days"),
        steps=(
            ("total", "books * pages", "the number of pages"),
            ("read", "per_day * days", "the pages read"),
            ("left", "total - read", "the pages left"),
        ),
        sample=_uniform(books=(3, 12), pages=(240, 890), per_day=(15, 60), days=(10, 120)),
        texts=(
            "A book series has {books} books with {pages} pages each. {name} reads {per_day} "
            "pages a day for {days} days. How many pages does {name} still have to read?",
            (
                "{name} reads {per_day} pages every day for {days} days.",
                "{name} is reading a series of {books} books of {pages} pages each.",
                "How many pages of the series are still unread?",
            ),
        ),
    ),
    Template(
        id="teams",
        goal="the number of teams",
        inputs=("boys", "girls", "size"),
        steps=(
            ("students", "boys + girls", "the number of students"),
            ("teams", "students // size", "the number of teams"),
        ),
        sample=_s_teams,
        texts=(
            "A school has {boys} boys and {girls} girls. For sports day they are split into "
            "teams of {size}. How many teams are there?",
            "At a summer camp there are {girls} girls and {boys} boys. The camp forms groups "
            "of {size} children. How many groups are formed?",
        ),
    ),
    Template(
        id="bulk_discount",
        goal="the total price",
        inputs=("count", "price", "discount"),
        steps=(
            ("unit", "price - discount", "the price of one"),
            ("total", "unit * count", "the total price"),
        ),
        sample=_s_bulk_discount,
        texts=(
            "A {item} costs ${price}, but a school buying {count} of them gets ${discount} "
            "off each one. How much does the school pay in total?",
            "How much do {count} {item}s cost if each one is ${price} and the shop gives "
            "${discount} off every one?",
        ),
        slots={"item": ("desk", "tablet", "chair", "microscope", "bed")},
    ),
    Template(
        id="compare_shops",
        goal="the saving",
        inputs=("count", "price_a", "price_b"),
        steps=(
            ("cost_a", "count * price_a", "the cost at shop A"),
            ("cost_b", "count * price_b", "the cost at shop B"),
            ("saving", "cost_a - cost_b", "the saving"),
        ),
        sample=_s_compare_shops,
        texts=(
            "Shop A sells a {item} for ${price_a} and shop B sells the same {item} for "
            "${price_b}. How many dollars does a company save by buying {count} of them at shop B?",
            (
                "{name} needs {count} {item}s for an office.",
                "Shop A charges ${price_a} per {item}.",
                "Shop B charges ${price_b} per {item}.",
                "How much does {name} save by buying at shop B instead of shop A?",
            ),
        ),
        slots={"item": ("printer", "monitor", "desk", "phone", "lamp")},
    ),
    Template(
        id="population",
        goal="the population",
        inputs=("people", "born", "moved", "years"),
        steps=(
            ("growth", "born - moved", "the yearly growth"),
            ("increase", "growth * years", "the increase"),
            ("now", "people + increase", "the population"),
        ),
        sample=_s_population,
        texts=(
            "A town has {people} people. Each year {born} people are born or move in and "
            "{moved} people leave. How many people live in the town after {years} years?",
            "Every year, {born} people join a village and {moved} people leave it. The "
            "village has {people} people today. How many people will live there in {years} years?",
        ),
    ),
    Template(
        id="train_passengers",
        goal="the number of passengers",
        inputs=("cars", "seats", "empty", "trips"),
        steps=(
            ("capacity", "cars * seats", "the number of seats"),
            ("riders", "capacity - empty", "the passengers per trip"),
            ("total", "riders * trips", "the number of passengers"),
        ),
        sample=_uniform(cars=(6, 16), seats=(48, 96), empty=(5, 150), trips=(8, 30)),
        texts=(
            "A train has {cars} cars with {seats} seats in each car. On every trip {empty} "
            "seats stay empty. How many passengers does the train carry in {trips} trips?",
            (
                "Each car of a train has {seats} seats.",
                "The train has {cars} cars.",
                "On each trip {empty} of the seats are empty.",
                "How many passengers ride the train in {trips} trips?",
            ),
        ),
    ),
    Template(
        id="flour_bags",
        goal="the number of bags",
        inputs=("grams", "cakes", "days", "bag"),
        steps=(
            ("per_day", "grams * cakes", "the flour per day"),
            ("flour", "per_day * days", "the flour used"),
            ("bags", "flour // bag", "the number of bags"),
        ),
        sample=_s_flour_bags,
        texts=(
            "A bakery uses {grams} grams of flour for each cake and bakes {cakes} cakes a day. "
            "Flour comes in bags of {bag} grams. How many bags of flour does the bakery use "
            "in {days} days?",
            (
                "{name} bakes {cakes} cakes every day.",
                "Each cake needs {grams} grams of flour.",
                "A bag holds {bag} grams of flour.",
                "How many bags of flour does {name} use in {days} days?",
            ),
        ),
    ),
    Template(
        id="fundraiser",
        goal="the profit",
        inputs=("students", "boxes", "price", "costs"),
        steps=(
            ("sold", "students * boxes", "the number of boxes sold"),
            ("income", "sold * price", "the income"),
            ("profit", "income - costs", "the profit"),
        ),
        sample=_uniform(students=(18, 120), boxes=(5, 25), price=(12, 35), costs=(200, 5000)),
        texts=(
            "For a fundraiser, {students} students each sell {boxes} boxes of {item} at "
            "${price} a box. The {item} cost the school ${costs}. How much profit does the "
            "school make?",
            (
                "A box of {item} sells for ${price}.",
                "{students} students each sell {boxes} boxes of {item} for the school fair.",
                "The school paid ${costs} for all the {item}.",
                "What is the profit in dollars?",
            ),
        ),
        slots={"item": ("cookies", "candles", "chocolates", "oranges")},
    ),
    Template(
        id="monthly_budget",
        goal="the savings",
        inputs=("income", "rent", "food", "months"),
        steps=(
            ("after_rent", "income - rent", "the money after rent"),
            ("left", "after_rent - food", "the money left each month"),
            ("saved", "left * months", "the savings"),
        ),
        sample=_uniform(income=(1800, 6500), rent=(500, 1500), food=(200, 800), months=(3, 24)),
        texts=(
            "{name} earns ${income} a month, pays ${rent} in rent and spends ${food} on food. "
            "{name} saves the rest. How much does {name} save in {months} months?",
            (
                "Each month {name} pays ${rent} for rent.",
                "{name}'s monthly pay is ${income}.",
                "Food costs {name} ${food} a month.",
                "Everything else is saved. How much does {name} save in {months} months?",
            ),
        ),
    ),
    Template(
        id="prize_share",
        goal="the money each winner keeps",
        inputs=("prize", "winners", "gift"),
        steps=(
            ("share", "prize // winners", "the share"),
            ("kept", "share - gift", "the money each winner keeps"),
        ),
        sample=_s_prize_share,
        texts=(
            "A prize of ${prize} is shared equally among {winners} winners. Each winner gives "
            "${gift} to charity. How many dollars does each winner keep?",
            "{winners} friends win ${prize} together and split it equally. Then each friend "
            "spends ${gift} on a party. How much money does each friend have left?",
        ),
    ),
    Template(
        id="school_trip",
        goal="the cost of the buses",
        inputs=("students", "teachers", "seats", "price"),
        steps=(
            ("people", "students + teachers", "the number of people"),
            ("buses", "people // seats", "the number of buses"),
            ("cost", "buses * price", "the cost of the buses"),
        ),
        sample=_s_school_trip,
        texts=(
            "{students} students and {teachers} teachers go on a school trip. Each bus holds "
            "{seats} people and every bus is full. A bus costs ${price} to rent. "
            "How much do the buses cost?",
            (
                "Renting one bus costs ${price}.",
                "A school trip has {students} students and {teachers} teachers.",
                "Every bus carries exactly {seats} people and no seat is empty.",
                "What is the total cost of the buses in dollars?",
            ),
        ),
    ),
    Template(
        id="cinema",
        goal="the number of tickets",
        inputs=("rows", "seats", "shows", "days"),
        steps=(
            ("per_show", "rows * seats", "the seats per show"),
            ("per_day", "per_show * shows", "the tickets per day"),
            ("total", "per_day * days", "the number of tickets"),
        ),
        sample=_uniform(rows=(12, 40), seats=(14, 36), shows=(3, 6), days=(7, 30)),
        texts=(
            "A cinema hall has {rows} rows of {seats} seats. There are {shows} shows a day. "
            "If every show is full, how many tickets are sold in {days} days?",
            (
                "A cinema plays {shows} shows every day.",
                "The cinema hall has {rows} rows with {seats} seats in each row.",
                "Every show is sold out.",
                "How many tickets are sold in {days} days?",
            ),
        ),
    ),
    Template(
        id="harvest_sacks",
        goal="the money from the harvest",
        inputs=("kg", "fields", "sack", "price"),
        steps=(
            ("harvest", "kg * fields", "the harvest"),
            ("sacks", "harvest // sack", "the number of sacks"),
            ("income", "sacks * price", "the money from the harvest"),
        ),
        sample=_s_harvest,
        texts=(
            "A farmer harvests {kg} kg of {item} from each of {fields} fields. The {item} are "
            "packed in sacks of {sack} kg, and each sack sells for ${price}. "
            "How much money does the farmer get?",
            "{name} grows {item} on {fields} fields and picks {kg} kg from each field. "
            "Sacks of {sack} kg sell for ${price} each. How many dollars does {name} earn "
            "by selling all of it?",
        ),
        slots={"item": ("potatoes", "onions", "carrots", "apples")},
    ),
    Template(
        id="shop_restock",
        goal="the number in stock",
        inputs=("stock", "per_day", "days", "boxes", "per_box"),
        steps=(
            ("sold", "per_day * days", "the number sold"),
            ("left", "stock - sold", "the number left"),
            ("new", "boxes * per_box", "the number delivered"),
            ("now", "left + new", "the number in stock"),
        ),
        sample=_uniform(
            stock=(2500, 9900), per_day=(35, 240), days=(6, 30), boxes=(12, 60), per_box=(12, 48)
        ),
        texts=(
            "A shop has {stock} {item}. It sells {per_day} {item} a day for {days} days. Then "
            "{boxes} boxes with {per_box} {item} each are delivered. How many {item} does the "
            "shop have now?",
            "A store starts the month with {stock} {item}, sells {per_day} of them every day "
            "for {days} days, and then receives {boxes} boxes of {per_box}. How many {item} "
            "are in stock?",
        ),
        slots={"item": ("cans", "light bulbs", "batteries", "jars of honey")},
    ),
    Template(
        id="catering",
        goal="the number of packs",
        inputs=("tables", "per_table", "per_guest", "extra", "pack"),
        steps=(
            ("guests", "tables * per_table", "the number of guests"),
            ("needed", "guests * per_guest", "the number for the guests"),
            ("total", "needed + extra", "the total number"),
            ("packs", "total // pack", "the number of packs"),
        ),
        sample=_s_catering,
        texts=(
            "A wedding has {tables} tables with {per_table} guests at each table. Every guest "
            "gets {per_guest} {item}, and the caterer adds {extra} spare {item}. The {item} come "
            "in packs of {pack}. How many packs are needed?",
            (
                "{item_cap} come in packs of {pack}.",
                "A party has {tables} tables of {per_table} guests.",
                "Each guest gets {per_guest} {item}.",
                "The host also wants {extra} extra {item}.",
                "How many packs of {item} does the host buy?",
            ),
        ),
        slots={"item": ("napkins", "cupcakes", "glasses", "plates")},
    ),
)
"""The templates, each a family of word problems with one computation."""

TEMPLATE_IDS: tuple[str, ...] = tuple(t.id for t in TEMPLATES)
_BY_ID: dict[str, Template] = {t.id: t for t in TEMPLATES}


def _evaluate(template: Template, values: Mapping[str, int]) -> dict[str, int] | None:
    """All variables of a template (inputs and steps); ``None`` when a rule is broken.

    The rules: every value is a non-negative integer below :data:`MAX_ANSWER`, every
    input is at least 2, and every ``//`` divides exactly.
    """
    env = {name: values[name] for name in template.inputs}
    if any(v < 2 for v in env.values()):
        return None
    for name, expr, _ in template.steps:
        left, op, right = expr.split()
        a, b = env[left], env[right]
        if op == "//" and (b == 0 or a % b):
            return None
        value = {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0}[op]
        if not 0 <= value < MAX_ANSWER:
            return None
        env[name] = value
    return env


def _expression(template: Template, values: Mapping[str, int]) -> str:
    """The answer as one expression of the numbers, sub-steps in parentheses."""
    rendered = {name: str(values[name]) for name in template.inputs}
    for name, expr, _ in template.steps:
        left, op, right = expr.split()
        parts = [rendered[v] if v in template.inputs else f"({rendered[v]})" for v in (left, right)]
        rendered[name] = f"{parts[0]} {op} {parts[1]}"
    return rendered[template.steps[-1][0]]


def _question(template: Template, values: Mapping[str, int], rng: random.Random) -> str:
    text = rng.choice(template.texts)
    if isinstance(text, tuple):
        facts = list(text[:-1])
        rng.shuffle(facts)
        text = " ".join([*facts, text[-1]])
    fill: dict[str, str | int] = {"name": rng.choice(NAMES), **values}
    for slot, options in template.slots.items():
        fill[slot] = rng.choice(options)
        fill[f"{slot}_cap"] = str(fill[slot]).capitalize()
    return text.format(**fill)


def _make_problem(template: Template, rng: random.Random) -> SyntheticProblem:
    """One problem from a template; numbers that break a rule are drawn again."""
    for _ in range(1000):
        values = template.sample(rng)
        env = _evaluate(template, values)
        if env is not None:
            return SyntheticProblem(
                question=_question(template, values, rng),
                answer=str(env[template.steps[-1][0]]),
                template=template.id,
                numbers=tuple(values[name] for name in template.inputs),
                expression=_expression(template, values),
            )
    raise RuntimeError(f"template {template.id!r}: no valid numbers in 1000 draws")


def generate_problems(n: int, seed: int) -> list[SyntheticProblem]:
    """``n`` problems, deterministic for ``seed``, cycling through all templates.

    The templates are used in shuffled rounds (each round uses every template once), so
    that any ``n >= len(TEMPLATES)`` covers them all.

    Example:
        >>> a = generate_problems(3, seed=1)
        >>> a == generate_problems(3, seed=1), a == generate_problems(3, seed=2)
        (True, False)
    """
    rng = random.Random(seed)
    problems: list[SyntheticProblem] = []
    order: list[Template] = []
    for _ in range(n):
        if not order:
            order = list(TEMPLATES)
            rng.shuffle(order)
        problems.append(_make_problem(order.pop(), rng))
    return problems


def template_of(problem: SyntheticProblem) -> Template:
    """The template a problem came from."""
    return _BY_ID[problem.template]


def question_overlap(a: Iterable[SyntheticProblem], b: Iterable[SyntheticProblem]) -> set[str]:
    """Questions that occur in both sets (to check a train/eval split).

    Example:
        >>> question_overlap(generate_problems(50, seed=1), generate_problems(50, seed=2))
        set()
    """
    return {p.question for p in a} & {p.question for p in b}


def drop_overlap(
    problems: Sequence[SyntheticProblem], reference: Iterable[SyntheticProblem]
) -> list[SyntheticProblem]:
    """``problems`` without those whose question occurs in ``reference`` (e.g. the eval set).

    Example:
        >>> train = generate_problems(5, seed=1)
        >>> drop_overlap(train, train[:2]) == train[2:]
        True
    """
    seen = {p.question for p in reference}
    return [p for p in problems if p.question not in seen]


# ---------------------------------------------------------------------------
# The teacher
# ---------------------------------------------------------------------------


def run_block(code: str) -> str:
    """Run one teacher-written block and return what the model sees (2023-10 style).

    The block runs in-process (``exec``) in a fresh namespace; this is only for the
    teacher's own code, never for model-written code.  On an error the result is the
    last line of ``traceback.format_exc()``, as in the released inference code.

    Example:
        >>> run_block("x = 6 * 7\\nprint(x)\\n")
        '42'
        >>> run_block("total = 5\\nprint(totl)\\n")
        "NameError: name 'totl' is not defined"
    """
    stdout = io.StringIO()
    error: str | None = None
    with contextlib.redirect_stdout(stdout):
        try:
            exec(compile(code, "<teacher>", "exec"), {"__name__": "__main__"})
        except Exception:
            error = traceback.format_exc().split("\n")[-2]
    return render_execution(Execution(stdout=stdout.getvalue(), error=error), style="2023-10")


_NUMBER = re.compile(r"\d+")


def _number_names(template: Template, problem: SyntheticProblem) -> list[str]:
    """The name of every number written in the question, left to right.

    Each input is matched to the first unclaimed occurrence of its value; a number the
    question repeats (``"... during 12 weeks ... after the 12 weeks"``) is named ``_``.

    Example:
        >>> p = SyntheticProblem("Buy 3 at $40 with $200.", "80", "shop_change", (40, 3, 200), "")
        >>> _number_names(template_of(p), p)
        ['count', 'price', 'paid']
    """
    written = [int(n) for n in _NUMBER.findall(problem.question)]
    names = ["_"] * len(written)
    for name, value in zip(template.inputs, problem.numbers, strict=True):
        i = next((i for i, v in enumerate(written) if v == value and names[i] == "_"), None)
        if i is None:
            raise ValueError(f"{template.id}: {value} is not written in the question")
        names[i] = name
    return names


def _program(template: Template, problem: SyntheticProblem) -> list[str]:
    """The lines of the correct program for a problem.

    The program copies the question into a string and lets Python pick the numbers out
    (``re.findall``) in the order they are written, then names them and computes.  A
    small model copies a whole sentence reliably (every token follows the one it has
    just copied), but finding "the number that goes here" in the question is what it
    gets wrong: the interpreter does that part, as ToRA hands exact work to the tool.
    """
    lines = [
        "import re",
        f'question = "{problem.question}"',
        f'{", ".join(_number_names(template, problem))} = map(int, re.findall(r"\\d+", question))',
    ]
    lines += [f"{name} = {expr}" for name, expr, _ in template.steps]
    lines.append(f"print({template.steps[-1][0]})")
    return lines


def _first_step(lines: Sequence[str], template: Template) -> int:
    """The index of the program's first computed step (after the lines that read the inputs)."""
    return len(lines) - len(template.steps) - 1


_RATIONALES = (
    "Let's compute {goal} with Python.",
    "We can find {goal} with a short program.",
    "Let's write a program to find {goal}.",
)
_FINALS = ("The answer is $\\boxed{{{answer}}}$.", "So {goal} is $\\boxed{{{answer}}}$.")
_BUILTIN_NAMES = frozenset(dir(builtins))


def _misspellings(name: str) -> list[str]:
    """Plausible typos of a name: a letter dropped, doubled, or two letters swapped."""
    out: list[str] = []
    for i in range(1, len(name)):
        if name[i].isalpha():
            out.append(name[:i] + name[i + 1 :])
            out.append(name[:i] + name[i] + name[i:])
        if (
            i + 1 < len(name)
            and name[i].isalpha()
            and name[i + 1].isalpha()
            and name[i] != name[i + 1]
        ):
            out.append(name[:i] + name[i + 1] + name[i] + name[i + 2 :])
    return out


def _is_free(candidate: str, taken: set[str]) -> bool:
    return (
        candidate.isidentifier()
        and not keyword.iskeyword(candidate)
        and candidate not in taken
        and candidate not in _BUILTIN_NAMES
    )


_NAME = re.compile(r"[A-Za-z_]\w*")


def _rhs(line: str) -> str:
    """What a line reads: the right of ``=`` for an assignment, else the whole line."""
    return line.partition(" = ")[2] if " = " in line else line


def _typo_program(
    lines: list[str], template: Template, rng: random.Random
) -> tuple[list[str], str]:
    """The program with one use of a variable misspelt, and the note about it."""
    taken = set(template.inputs) | {s[0] for s in template.steps} | {"re", "question"}
    first_use = _first_step(lines, template)  # uses are on step lines and the print line
    uses = [
        (i, name)
        for i in range(first_use, len(lines))
        for name in _NAME.findall(_rhs(lines[i]))
        if name in taken
    ]
    i, name = rng.choice(uses)
    typo = rng.choice([c for c in _misspellings(name) if _is_free(c, taken)])
    bad = list(lines)
    head = bad[i][: len(bad[i]) - len(_rhs(bad[i]))]
    bad[i] = head + re.sub(rf"\b{re.escape(name)}\b", typo, _rhs(bad[i]), count=1)
    return bad, f"`{typo}` is a typo for `{name}`. Let's fix it."


def _order_program(
    lines: list[str], template: Template, rng: random.Random
) -> tuple[list[str], str]:
    """The program with one step moved above a step it needs, and the note about it."""
    n_in = _first_step(lines, template)
    computed = [s[0] for s in template.steps]
    moves = [
        (j, computed.index(dep))
        for j, (_, expr, _) in enumerate(template.steps)
        for dep in expr.split()[::2]
        if dep in computed
    ]
    j, i = rng.choice(moves)
    bad = list(lines)
    bad.insert(n_in + i, bad.pop(n_in + j))
    output = run_block("\n".join(bad) + "\n")
    missing = re.search(r"name '(\w+)' is not defined", output)
    assert missing is not None, output
    return bad, f"`{missing.group(1)}` is used before it is computed. Let's fix the order."


def _block(lines: Sequence[str]) -> tuple[str, str]:
    """A python block's text (fences included) and the output the model sees."""
    code = "\n".join(lines) + "\n"
    return f"{PYTHON_FENCE}\n{code}```", run_block(code)


def tora_solution(
    problem: SyntheticProblem, *, rng: random.Random, error_rate: float = DEFAULT_ERROR_RATE
) -> str:
    """A ToRA trajectory for ``problem`` written by the programmatic teacher.

    With probability ``error_rate`` the first block contains a mistake that raises a
    ``NameError`` (a misspelt variable, or a step moved above one it needs); the
    trajectory then shows the error output, a sentence noticing it and the corrected
    block.  Every output block is the real result of running its block.

    Example:
        >>> p = generate_problems(1, seed=0)[0]
        >>> t = tora_solution(p, rng=random.Random(1), error_rate=1.0)
        >>> "NameError" in t and t.count("```python") == 2
        True
    """
    template = template_of(problem)
    lines = _program(template, problem)
    rationale = rng.choice(_RATIONALES).format(goal=template.goal)
    parts = [rationale, "\n"]
    if rng.random() < error_rate:
        make_bad = _typo_program if rng.random() < 0.7 else _order_program
        bad, note = make_bad(lines, template, rng)
        block, output = _block(bad)
        assert output.startswith("NameError"), output
        parts += [block, output_block(output), note, "\n"]
    block, output = _block(lines)
    if output != problem.answer:
        raise AssertionError(f"teacher program printed {output!r}, expected {problem.answer!r}")
    final = rng.choice(_FINALS).format(goal=template.goal, answer=problem.answer)
    parts += [block, output_block(output), final]
    return "".join(parts)


def cot_solution(problem: SyntheticProblem) -> str:
    """A chain-of-thought solution in words: every step with its arithmetic.

    Example:
        >>> p = generate_problems(1, seed=0)[0]
        >>> cot_solution(p).endswith(f"The answer is $\\\\boxed{{{p.answer}}}$.")
        True
    """
    template = template_of(problem)
    env = _evaluate(template, dict(zip(template.inputs, problem.numbers, strict=True)))
    assert env is not None
    sentences = []
    for name, expr, label in template.steps:
        left, op, right = expr.split()
        label = label[0].upper() + label[1:]
        sentences.append(f"{label} is {env[left]} {op} {env[right]} = {env[name]}.")
    sentences.append(f"The answer is $\\boxed{{{problem.answer}}}$.")
    return " ".join(sentences)


# ---------------------------------------------------------------------------
# Records and files
# ---------------------------------------------------------------------------


def to_record(problem: SyntheticProblem, solution: str) -> dict[str, object]:
    """A training record in the ToRA format (as in the released ``examples.jsonl``).

    Example:
        >>> p = generate_problems(1, seed=0)[0]
        >>> r = to_record(p, cot_solution(p))
        >>> [m["role"] for m in r["messages"]], r["gt"] == p.answer, r["dataset"]
        (['user', 'assistant'], True, 'synthetic-arithmetic')
    """
    return {
        "messages": [
            {"role": "user", "content": problem.question},
            {"role": "assistant", "content": solution},
        ],
        "gt": problem.answer,
        "dataset": DATASET_NAME,
        "template": problem.template,
    }


def _solutions_rng(seed: int) -> random.Random:
    """The teacher's random stream for a corpus, independent of the problems' stream."""
    return random.Random(seed * 1_000_003 + 7919)


def write_corpus(
    path: str | Path,
    n: int,
    seed: int,
    style: Style = "tora",
    error_rate: float = DEFAULT_ERROR_RATE,
) -> int:
    """Write ``n`` training records (jsonl) and return how many were written.

    Example:
        >>> write_corpus("/tmp/synthetic-train.jsonl", 100, seed=0)  # doctest: +SKIP
        100
    """
    if style not in ("tora", "cot"):
        raise ValueError(f"unknown style {style!r}; use 'tora' or 'cot'")
    rng = _solutions_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for problem in generate_problems(n, seed):
            if style == "tora":
                solution = tora_solution(problem, rng=rng, error_rate=error_rate)
            else:
                solution = cot_solution(problem)
            f.write(json.dumps(to_record(problem, solution), ensure_ascii=False) + "\n")
            count += 1
    return count


def write_eval_set(path: str | Path, n: int, seed: int) -> int:
    """Write ``n`` evaluation rows ``{"question", "answer"}`` (jsonl); return the count.

    Use a seed different from the training corpus's (see :func:`question_overlap`).

    Example:
        >>> write_eval_set("/tmp/synthetic-eval.jsonl", 200, seed=10_000)  # doctest: +SKIP
        200
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    problems = generate_problems(n, seed)
    with path.open("w", encoding="utf-8") as f:
        for p in problems:
            f.write(
                json.dumps({"question": p.question, "answer": p.answer}, ensure_ascii=False) + "\n"
            )
    return len(problems)


__all__ = [
    "DATASET_NAME",
    "DEFAULT_ERROR_RATE",
    "NAMES",
    "TEMPLATES",
    "TEMPLATE_IDS",
    "SyntheticProblem",
    "Template",
    "cot_solution",
    "drop_overlap",
    "generate_problems",
    "question_overlap",
    "run_block",
    "template_of",
    "to_record",
    "tora_solution",
    "write_corpus",
    "write_eval_set",
]
