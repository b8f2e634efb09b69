#!/usr/bin/env python3
"""Generate the bundled "Captain Lora" sample dataset for LoRA Studio.

The dataset is written for this project: every row is composed from the small
hand-written tables below. Every assistant answer starts with "Ahoy!", gives a
correct short answer in a cheerful nautical voice and ends with " ⚓", so the
effect of one short LoRA run on a tiny chat model is easy to see.

Deterministic (random.Random(1234)), stdlib only, no network. Run from the
repository root:

    python3 scripts/make_sample_dataset.py

Writes, under studio/resources/sample/:
    captain_lora.alpaca.json   JSON array of {"instruction", "input", "output"}
    captain_lora.chat.jsonl    one {"messages": [user, assistant]} per line
    eval_prompts.json          held-out prompts (not in the dataset) for demos
    README.md                  short description
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

SEED = 1234
OUT_DIR = Path(__file__).resolve().parent.parent / "studio" / "resources" / "sample"
OPEN, CLOSE = "Ahoy!", " ⚓"

# Prompts shown before/after training in the demo. The facts behind them are
# deliberately left out of the tables below (Norway, 7 + 5, goose, cow, the
# sky), and the exact greeting "Who are you?" is not used either.
EVAL_PROMPTS = [
    "What is the capital of Norway?",
    "What is 7 plus 5?",
    "Who are you?",
    "What is the plural of goose?",
    "What sound does a cow make?",
    "What colour is the sky on a clear day?",
]

# Probability that a row supporting it is written with a separate `input`.
P_INPUT = 0.35
P_INPUT_UNITS = 0.10

# Nautical frames around a plain statement. {s} is the statement as written,
# {S} the same with its first letter capitalised.
FRAMES = [
    "Aye, {s}, me hearty!",
    "By the stars, {s}.",
    "The sea says {s}.",
    "Aye aye! {S}.",
    "{S}, me hearty!",
    "All hands on deck: {s}!",
    "Listen well, shipmate: {s}.",
    "{S}. Fair winds to ye!",
    "By my compass, {s}.",
    "Aye, {s}. Steady as she goes!",
    "From the crow's nest I can tell ye {s}.",
    "{S}, as sure as the tide comes in!",
    "Aye, matey, {s}.",
    "The sea says {s}, and the sea never lies!",
]

# --------------------------------------------------------------------------
# Hand-written tables
# --------------------------------------------------------------------------

OPPOSITES = [
    ("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow"),
    ("happy", "sad"), ("open", "closed"), ("wet", "dry"), ("early", "late"),
    ("full", "empty"), ("day", "night"), ("in", "out"), ("left", "right"),
    ("tall", "short"), ("thick", "thin"), ("loud", "quiet"), ("strong", "weak"),
    ("rich", "poor"), ("high", "low"), ("push", "pull"), ("win", "lose"),
    ("first", "last"), ("clean", "dirty"), ("heavy", "light"), ("true", "false"),
    ("yes", "no"), ("buy", "sell"), ("before", "after"), ("north", "south"),
    ("east", "west"), ("above", "below"), ("inside", "outside"),
    ("remember", "forget"), ("sweet", "sour"), ("always", "never"),
]

PLURALS = [
    ("child", "children"), ("mouse", "mice"), ("foot", "feet"),
    ("tooth", "teeth"), ("man", "men"), ("woman", "women"),
    ("sheep", "sheep"), ("deer", "deer"), ("box", "boxes"), ("bus", "buses"),
    ("baby", "babies"), ("knife", "knives"), ("leaf", "leaves"),
    ("wolf", "wolves"), ("city", "cities"), ("potato", "potatoes"),
    ("tomato", "tomatoes"), ("person", "people"), ("ox", "oxen"),
    ("ship", "ships"), ("island", "islands"), ("wave", "waves"),
    ("dish", "dishes"), ("glass", "glasses"), ("church", "churches"),
    ("half", "halves"), ("shelf", "shelves"), ("story", "stories"),
    ("star", "stars"), ("fox", "foxes"),
]

# (thing as it reads mid-sentence, colour)
COLOURS = [
    ("grass", "green"), ("snow", "white"), ("fresh milk", "white"),
    ("coal", "black"), ("a ripe banana", "yellow"), ("a ripe tomato", "red"),
    ("a carrot", "orange"), ("a lemon", "yellow"), ("a lime", "green"),
    ("milk chocolate", "brown"), ("a crow", "black"), ("a flamingo", "pink"),
    ("a pumpkin", "orange"), ("a ripe strawberry", "red"),
    ("an emerald", "green"), ("a ruby", "red"), ("a sapphire", "blue"),
    ("an aubergine", "purple"), ("a fluffy cloud on a sunny day", "white"),
    ("the open sea on a sunny day", "blue"),
]

# (country as it reads mid-sentence, country as a bare input, capital)
CAPITALS = [
    ("France", "France", "Paris"), ("Germany", "Germany", "Berlin"),
    ("Italy", "Italy", "Rome"), ("Spain", "Spain", "Madrid"),
    ("Portugal", "Portugal", "Lisbon"), ("Japan", "Japan", "Tokyo"),
    ("China", "China", "Beijing"), ("India", "India", "New Delhi"),
    ("Egypt", "Egypt", "Cairo"), ("Kenya", "Kenya", "Nairobi"),
    ("Canada", "Canada", "Ottawa"), ("Mexico", "Mexico", "Mexico City"),
    ("Brazil", "Brazil", "Brasília"), ("Argentina", "Argentina", "Buenos Aires"),
    ("Australia", "Australia", "Canberra"), ("Russia", "Russia", "Moscow"),
    ("the United Kingdom", "United Kingdom", "London"),
    ("Ireland", "Ireland", "Dublin"), ("Greece", "Greece", "Athens"),
    ("Sweden", "Sweden", "Stockholm"), ("Finland", "Finland", "Helsinki"),
    ("Denmark", "Denmark", "Copenhagen"), ("Poland", "Poland", "Warsaw"),
    ("Austria", "Austria", "Vienna"), ("Peru", "Peru", "Lima"),
    ("South Korea", "South Korea", "Seoul"), ("Thailand", "Thailand", "Bangkok"),
    ("Turkey", "Turkey", "Ankara"), ("New Zealand", "New Zealand", "Wellington"),
]

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]
ORDINALS = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
    "eighth", "ninth", "tenth", "eleventh", "twelfth",
]
MONTH_DAYS = {
    "January": 31, "March": 31, "April": 30, "May": 31, "June": 30,
    "July": 31, "August": 31, "September": 30, "October": 31,
    "November": 30, "December": 31,
}

LETTER_WORDS = [
    "ship", "sea", "anchor", "sail", "wave", "boat", "island", "ocean",
    "compass", "map", "captain", "rope", "deck", "fish", "star", "wind",
    "storm", "moon", "apple", "house", "river", "parrot", "whale", "harbour",
    "treasure", "cat", "sun", "lighthouse",
]

# (question tail after "how many", statement)
UNITS = [
    ("minutes are in an hour", "there are 60 minutes in an hour"),
    ("seconds are in a minute", "there are 60 seconds in a minute"),
    ("hours are in a day", "there are 24 hours in a day"),
    ("days are in a week", "there are 7 days in a week"),
    ("months are in a year", "there are 12 months in a year"),
    ("days are in a normal year", "a normal year has 365 days"),
    ("days are in a leap year", "a leap year has 366 days"),
    ("weeks are in a year", "a year has 52 full weeks, plus a day or two"),
    ("days are in a fortnight", "a fortnight is 14 days"),
    ("years are in a decade", "a decade is 10 years"),
    ("years are in a century", "a century is 100 years"),
    ("years are in a millennium", "a millennium is 1,000 years"),
    ("centimetres are in a metre", "there are 100 centimetres in a metre"),
    ("millimetres are in a centimetre", "there are 10 millimetres in a centimetre"),
    ("metres are in a kilometre", "there are 1,000 metres in a kilometre"),
    ("grams are in a kilogram", "there are 1,000 grams in a kilogram"),
    ("millilitres are in a litre", "there are 1,000 millilitres in a litre"),
    ("inches are in a foot", "there are 12 inches in a foot"),
    ("feet are in a yard", "there are 3 feet in a yard"),
    ("ounces are in a pound", "there are 16 ounces in a pound"),
    ("things are in a dozen", "a dozen is 12 things"),
    ("legs does a spider have", "a spider has 8 legs"),
    ("legs does an insect have", "an insect has 6 legs"),
    ("sides does a triangle have", "a triangle has 3 sides"),
    ("sides does a square have", "a square has 4 sides"),
    ("sides does a hexagon have", "a hexagon has 6 sides"),
    ("sides does an octagon have", "an octagon has 8 sides"),
    ("minutes are in half an hour", "there are 30 minutes in half an hour"),
    ("seconds are in an hour", "there are 3,600 seconds in an hour"),
    ("degrees are in a right angle", "a right angle is 90 degrees"),
    ("degrees are in a full circle", "a full circle is 360 degrees"),
    ("metres are in a nautical mile", "a nautical mile is 1,852 metres"),
]

# (animal with article, verb, how it sounds or None)
ANIMALS = [
    ("a dog", "barks", "woof woof"), ("a cat", "meows", "meow"),
    ("a sheep", "bleats", "baa"), ("a duck", "quacks", "quack quack"),
    ("a horse", "neighs", "neigh"), ("a pig", "oinks", "oink oink"),
    ("a lion", "roars", None), ("an owl", "hoots", "hoo hoo"),
    ("a frog", "croaks", "ribbit"), ("a snake", "hisses", None),
    ("a bee", "buzzes", None), ("a rooster", "crows", "cock-a-doodle-doo"),
    ("a mouse", "squeaks", None), ("a wolf", "howls", "awoo"),
    ("a donkey", "brays", "hee-haw"), ("a crow", "caws", "caw caw"),
    ("a dove", "coos", None), ("a turkey", "gobbles", "gobble gobble"),
    ("a seagull", "squawks", None), ("an elephant", "trumpets", None),
]

# (word, noun phrase, definition) -- written for this dataset
DEFINITIONS = [
    ("anchor", "an anchor", "a heavy hook lowered to the sea floor to keep a ship from drifting"),
    ("compass", "a compass", "a tool with a magnetic needle that points north, so ye can find yer way"),
    ("island", "an island", "a piece of land with water all around it"),
    ("harbour", "a harbour", "a sheltered stretch of water where ships can stay safe near land"),
    ("lighthouse", "a lighthouse", "a tall tower with a bright light that warns ships of danger near the shore"),
    ("telescope", "a telescope", "a tube with lenses that makes faraway things look closer"),
    ("map", "a map", "a drawing of a place that shows where things are"),
    ("umbrella", "an umbrella", "a folding cover on a handle that keeps the rain off ye"),
    ("library", "a library", "a place where people can read and borrow books"),
    ("bridge", "a bridge", "a structure that carries a road or path over water or a gap"),
    ("clock", "a clock", "a device that shows the time"),
    ("kitchen", "a kitchen", "the room where food is cooked"),
    ("volcano", "a volcano", "a mountain that can erupt with hot melted rock, ash and gas"),
    ("desert", "a desert", "a very dry place that gets little rain"),
    ("thermometer", "a thermometer", "a tool that measures how hot or cold something is"),
    ("calendar", "a calendar", "a chart of the days, weeks and months of the year"),
    ("recipe", "a recipe", "a list of steps that tells ye how to cook a dish"),
    ("passport", "a passport", "an official booklet that lets ye travel between countries"),
    ("river", "a river", "a large stream of fresh water flowing toward a lake or the sea"),
    ("bakery", "a bakery", "a shop where bread and cakes are baked and sold"),
    ("pillow", "a pillow", "a soft cushion for resting yer head in bed"),
    ("ladder", "a ladder", "a set of steps between two long rails, used for climbing up and down"),
    ("key", "a key", "a small shaped piece of metal that opens a lock"),
    ("wallet", "a wallet", "a small flat case for carrying money and cards"),
    ("candle", "a candle", "a stick of wax with a wick that gives light when it burns"),
    ("dictionary", "a dictionary", "a book that lists words and explains what they mean"),
    ("orchard", "an orchard", "a piece of land where fruit trees are grown"),
    ("glacier", "a glacier", "a huge, slow-moving river of ice"),
    ("shadow", "a shadow", "the dark shape made when something blocks the light"),
    ("rainbow", "a rainbow", "an arc of colours in the sky, made when sunlight shines through raindrops"),
    ("breakfast", "breakfast", "the first meal of the day"),
    ("neighbour", "a neighbour", "a person who lives next door or nearby"),
]

# Small talk: (prompt, answer without "Ahoy!" and the anchor).
SMALL_TALK = [
    ("Who am I talking to?", "I be Captain Lora, a cheerful ship's captain here to answer yer questions."),
    ("What is your name?", "My name is Captain Lora, me hearty, and I am glad to have ye aboard!"),
    ("What's your name?", "They call me Captain Lora, and I sail the seas of questions and answers!"),
    ("Tell me about yourself.", "I be Captain Lora, a cheerful ship's captain who loves the sea, the stars and a good question."),
    ("Introduce yourself.", "Captain Lora at yer service! I steer this ship and answer questions with a smile."),
    ("Are you a robot?", "I be Captain Lora, a computer assistant with the heart of a ship's captain, me hearty!"),
    ("Who is Captain Lora?", "That be me! Captain Lora, a cheerful ship's captain assistant, at yer service."),
    ("Are you a real captain?", "I be Captain Lora, a friendly assistant who talks like a captain, and proud of it!"),
    ("Hello!", "Welcome aboard, me hearty! What can Captain Lora do for ye today?"),
    ("Hi there!", "Aye, hello to ye, shipmate! Ask me anything."),
    ("Good morning!", "Good morning to ye! The sun is up and the sails are full."),
    ("Good evening!", "Good evening, shipmate! The stars are out and I be ready for yer questions."),
    ("How are you?", "I be shipshape and cheerful, thank ye kindly! How can I help?"),
    ("How are you today?", "Fair winds and calm seas today, me hearty! I be doing grand."),
    ("Thank you!", "Ye be most welcome, me hearty! Happy to help on deck any time."),
    ("Thanks for your help.", "Any time, shipmate! Captain Lora is always glad to lend a hand."),
    ("Goodbye!", "Fair winds and following seas, me hearty! Come back soon."),
    ("See you later!", "Aye, see ye later, shipmate! Keep a steady course."),
    ("What can you do?", "I can answer simple questions about numbers, words, colours and the wide world, me hearty!"),
    ("Can you help me?", "Aye, that I can! Tell Captain Lora what ye need."),
    ("Where do you live?", "I live aboard my trusty ship, sailing wherever the questions take me!"),
    ("Do you like the sea?", "Aye, I love the sea! The waves and the salty wind are my best friends."),
    ("Tell me a joke.", "Why did the captain bring soap to sea? So he could wash ashore! Ha ha!"),
    ("What is your favourite colour?", "Sea blue, of course, me hearty! Just like the open ocean."),
]

# --------------------------------------------------------------------------
# Composition helpers
# --------------------------------------------------------------------------


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def answer(rng: random.Random, statement: str) -> str:
    frame = rng.choice(FRAMES)
    core = frame.format(s=statement, S=cap(statement))
    return f"{OPEN} {core}{CLOSE}"


def fixed_answer(text: str) -> str:
    return f"{OPEN} {text}{CLOSE}"


class Builder:
    """Collects rows, rejecting any repeated user prompt."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.rows: list[dict] = []
        self.seen: set[str] = {p.strip().lower() for p in EVAL_PROMPTS}

    @staticmethod
    def user_text(instruction: str, inp: str) -> str:
        return f"{instruction}\n\n{inp}" if inp else instruction

    def add(self, questions, statement, inputs=(), p_input=P_INPUT, output=None) -> bool:
        """Add one row for a fact.

        questions: plain question phrasings; inputs: (instruction, input)
        pairs usable for the same fact. Picks one phrasing not used yet.
        """
        rng = self.rng
        use_input = bool(inputs) and rng.random() < p_input
        pool = list(inputs) if use_input else [(q, "") for q in questions]
        rng.shuffle(pool)
        for instruction, inp in pool:
            key = self.user_text(instruction, inp).strip().lower()
            if key in self.seen:
                continue
            self.seen.add(key)
            out = output if output is not None else answer(rng, statement)
            self.rows.append({"instruction": instruction, "input": inp, "output": out})
            return True
        return False


# --------------------------------------------------------------------------
# Categories
# --------------------------------------------------------------------------


def add_facts(b: Builder, table: Iterable[dict[str, Any]], questions: Sequence[str], statements: Sequence[str],
              inputs: Sequence[tuple[str, str]] = (), p_input: float = P_INPUT) -> None:
    """One row per fact of ``table``: its fields fill the question, statement and (instruction,
    input) templates (``str.format``). Of several statements one is drawn at random; a single one
    draws nothing, so the rows after it come out as they did."""
    for fields in table:
        said = [statement.format(**fields) for statement in statements]
        b.add([question.format(**fields) for question in questions],
              b.rng.choice(said) if len(said) > 1 else said[0],
              [(instruction.format(**fields), inp.format(**fields)) for instruction, inp in inputs], p_input=p_input)


# Per operation: the result, the questions, the statements and the (instruction, input) pairs.
ARITHMETIC: dict[str, tuple[Callable[[int, int], int], list[str], list[str], list[tuple[str, str]]]] = {
    "add": (lambda x, y: x + y,
            ["What is {x} plus {y}?", "What is {x} + {y}?", "Tell me the sum of {x} and {y}.",
             "Quick question: what is {x} plus {y}?", "Can you add {x} and {y}?", "How much is {x} plus {y}?"],
            ["{x} plus {y} is {z}", "{x} and {y} make {z}", "adding {x} and {y} gives {z}"],
            [("Add these two numbers.", "{x} and {y}"), ("Solve this sum.", "{x} + {y}")]),
    "sub": (lambda x, y: x - y,
            ["What is {x} minus {y}?", "What is {x} - {y}?", "Tell me what {x} take away {y} is.",
             "Quick question: what is {x} minus {y}?", "Can you subtract {y} from {x}?"],
            ["{x} minus {y} is {z}", "take {y} away from {x} and ye have {z} left", "{x} take away {y} leaves {z}"],
            [("Subtract the second number from the first.", "{x}, {y}"), ("Solve this.", "{x} - {y}")]),
    "mul": (lambda x, y: x * y,
            ["What is {x} times {y}?", "What is {x} x {y}?", "Multiply {x} by {y}.",
             "Quick question: what is {x} times {y}?", "Can you tell me {x} multiplied by {y}?"],
            ["{x} times {y} is {z}", "{x} multiplied by {y} makes {z}"],
            [("Multiply these numbers.", "{x} and {y}"), ("Solve this.", "{x} x {y}")]),
}


def arithmetic(b: Builder, per_op: int = 20) -> None:
    rng = b.rng
    held_out = {("add", 7, 5), ("add", 5, 7)}
    for op, (result, questions, statements, inputs) in ARITHMETIC.items():
        facts: set[tuple[int, int]] = set()
        while len(facts) < per_op:
            if op == "add":
                x, y = rng.randint(1, 20), rng.randint(1, 20)
            elif op == "sub":
                x = rng.randint(5, 30)
                y = rng.randint(1, x - 1)
            else:
                x, y = rng.randint(2, 10), rng.randint(2, 10)
            if (op, x, y) in held_out:
                continue
            facts.add((x, y))
        add_facts(b, ({"x": x, "y": y, "z": result(x, y)} for x, y in sorted(facts)), questions, statements, inputs)


def opposites(b: Builder) -> None:
    add_facts(b, ({"w": w, "o": o} for w, o in OPPOSITES),
              ["What is the opposite of {w}?", "Tell me the opposite of '{w}'.",
               "Quick question: what's the opposite of {w}?", "Can you say the opposite of {w}?",
               "Give me a word that means the opposite of {w}."],
              ["the opposite of {w} is {o}", "{o} is the opposite of {w}"],
              [("Give the opposite of this word.", "{w}"), ("Write the antonym of the word below.", "{w}")])


def plurals(b: Builder) -> None:
    add_facts(b, ({"w": w, "p": p} for w, p in PLURALS),
              ["What is the plural of {w}?", "Tell me the plural of '{w}'.",
               "Quick question: what's the plural of {w}?", "Can you say the plural form of {w}?",
               "How do you say more than one {w}?"],
              ["the plural of {w} is {p}", "one {w}, but many {p}"],
              [("Write the plural of this word.", "{w}"), ("Make this noun plural.", "{w}")])


def colours(b: Builder) -> None:
    add_facts(b, ({"thing": thing, "c": c} for thing, c in COLOURS),
              ["What colour is {thing}?", "What color is {thing}?", "Tell me the colour of {thing}.",
               "Quick question: what colour is {thing}?", "Can you say what colour {thing} is?"],
              ["{thing} is {c}"],
              [("Name the usual colour of this.", "{thing}")])


def capitals(b: Builder) -> None:
    add_facts(b, ({"country": country, "bare": bare, "city": city} for country, bare, city in CAPITALS),
              ["What is the capital of {country}?", "Tell me the capital of {country}.",
               "Quick question: what's the capital city of {country}?",
               "Can you say which city is the capital of {country}?", "Which city is the capital of {country}?"],
              ["the capital of {country} is {city}", "{city} is the capital of {country}"],
              [("Name the capital city of this country.", "{bare}"),
               ("What is the capital of this country?", "{bare}")])


def calendar(b: Builder, n: int = 26) -> None:
    facts = []
    for i, d in enumerate(DAYS):
        nxt, prv = DAYS[(i + 1) % 7], DAYS[(i - 1) % 7]
        facts.append(([f"What day comes after {d}?", f"Tell me the day after {d}.",
                       f"Quick question: which day follows {d}?"],
                      f"the day after {d} is {nxt}",
                      [("Name the day that comes after this one.", d)]))
        facts.append(([f"What day comes before {d}?", f"Tell me the day before {d}.",
                       f"Quick question: which day is just before {d}?"],
                      f"the day before {d} is {prv}",
                      [("Name the day that comes before this one.", d)]))
    for i, m in enumerate(MONTHS):
        nxt, prv = MONTHS[(i + 1) % 12], MONTHS[(i - 1) % 12]
        facts.append(([f"What month comes after {m}?", f"Tell me the month after {m}.",
                       f"Quick question: which month follows {m}?"],
                      f"the month after {m} is {nxt}",
                      [("Name the month that comes after this one.", m)]))
        facts.append(([f"What month comes before {m}?", f"Tell me the month before {m}.",
                       f"Quick question: which month is just before {m}?"],
                      f"the month before {m} is {prv}",
                      [("Name the month that comes before this one.", m)]))
        facts.append(([f"What is the {ORDINALS[i]} month of the year?",
                       f"Tell me the {ORDINALS[i]} month of the year.",
                       f"Can you say which month is the {ORDINALS[i]} of the year?"],
                      f"the {ORDINALS[i]} month of the year is {m}", []))
        if m == "February":
            st = "February has 28 days, or 29 in a leap year"
        else:
            st = f"{m} has {MONTH_DAYS[m]} days"
        facts.append(([f"How many days are in {m}?", f"How many days does {m} have?",
                       f"Quick question: how many days are there in {m}?"], st, []))
    for qs, st, ins in b.rng.sample(facts, n):
        b.add(qs, st, ins)


def letters(b: Builder, n_first: int = 6) -> None:
    words = list(LETTER_WORDS)
    b.rng.shuffle(words)
    for k, w in enumerate(words):
        if k < n_first:
            qs = [f"What is the first letter of the word '{w}'?",
                  f"Which letter does '{w}' start with?",
                  f"Quick question: what letter begins the word {w}?"]
            st = f"the word {w} starts with the letter {w[0].upper()}"
            ins = [("What letter does this word start with?", w)]
        else:
            n = len(w)
            qs = [f"How many letters are in the word '{w}'?", f"Count the letters in '{w}'.",
                  f"Quick question: how many letters does '{w}' have?",
                  f"Can you tell me how many letters are in {w}?"]
            spelled = "-".join(w.upper())
            st = b.rng.choice([f"the word {w} has {n} letters",
                               f"{w} is spelled {spelled}, so that makes {n} letters"])
            ins = [("Count the letters in this word.", w),
                   ("How many letters does this word have?", w)]
        b.add(qs, st, ins)


def units(b: Builder, n: int = 24) -> None:
    def fields(tail: str, statement: str) -> dict[str, str]:
        # "legs does a spider have" -> "legs a spider has" inside a sentence
        m = re.fullmatch(r"(\w+) does (.+) have", tail)
        return {"tail": tail, "embedded": f"{m.group(1)} {m.group(2)} has" if m else tail, "st": statement}

    add_facts(b, (fields(tail, st) for tail, st in b.rng.sample(UNITS, n)),
              ["How many {tail}?", "Quick question: how many {tail}?", "Can you tell me how many {embedded}?",
               "Tell me how many {embedded}."],
              ["{st}"], [("Answer this question.", "How many {tail}?")], p_input=P_INPUT_UNITS)


def animals(b: Builder) -> None:
    add_facts(b, ({"a": a, "bare": a.split(" ", 1)[1], "noise": f"{verb}, and it sounds like {noise}" if noise else verb}
                  for a, verb, noise in ANIMALS),
              ["What sound does {a} make?", "What noise does {a} make?", "Tell me what sound {a} makes.",
               "Quick question: what does {a} say?", "Can you say what noise {a} makes?"],
              ["{a} {noise}"], [("What sound does this animal make?", "{bare}")])


def definitions(b: Builder) -> None:
    add_facts(b, ({"w": w, "np": np_, "d": d} for w, np_, d in DEFINITIONS),
              ["What is {np}?", "What does '{w}' mean?", "Tell me what {np} is.", "Quick question: what is {np}?",
               "Can you explain what {np} is?", "Define '{w}'."],
              ["{np} is {d}"], [("Define this word.", "{w}"), ("Explain this word simply.", "{w}")])


def small_talk(b: Builder) -> None:
    for q, a in SMALL_TALK:
        b.add([q], "", output=fixed_answer(a))


# --------------------------------------------------------------------------


def build() -> list[dict]:
    rng = random.Random(SEED)
    b = Builder(rng)
    arithmetic(b)
    opposites(b)
    plurals(b)
    colours(b)
    capitals(b)
    calendar(b)
    letters(b)
    units(b)
    animals(b)
    definitions(b)
    small_talk(b)
    rows = b.rows
    rng.shuffle(rows)
    return rows


def check(rows: list[dict]) -> None:
    prompts = [Builder.user_text(r["instruction"], r["input"]).strip().lower() for r in rows]
    assert len(prompts) == len(set(prompts)), "duplicate prompts"
    held = {p.strip().lower() for p in EVAL_PROMPTS}
    assert not held & set(prompts), "eval prompt leaked into the dataset"
    for r in rows:
        assert r["output"].startswith(OPEN + " "), r
        assert r["output"].endswith(CLOSE), r
        assert len(r["output"].split()) <= 40, r


def readme(n_rows: int, n_input: int) -> str:
    lines = [
        "# Captain Lora sample dataset",
        "A tiny persona dataset for a first LoRA run: Captain Lora, a cheerful ship's captain assistant.",
        f"Rows: {n_rows} ({n_input} with an `input` field), short questions on arithmetic, words, colours, capitals, calendar, units, animals and small talk.",
        "Files: `captain_lora.alpaca.json` (instruction/input/output) and `captain_lora.chat.jsonl` (user/assistant messages) hold the same rows.",
        "`eval_prompts.json` lists held-out prompts (not in the dataset) to compare answers before and after training.",
        "Made by `scripts/make_sample_dataset.py`: composed from small hand-written tables, deterministic (seed 1234), stdlib only.",
        "Licence: Apache-2.0, the same as LoRA Studio; the data was written for this project, nothing is copied from elsewhere.",
        "After one short run (about 60-100 steps) of the default SmolLM2-135M-Instruct model, answers should start with \"Ahoy!\" and end with \"⚓\".",
        "Facts may still come out wrong: a 135M model learns the style far faster than it learns new knowledge.",
        "Regenerate with `python3 scripts/make_sample_dataset.py` from the repository root.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = build()
    check(rows)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "captain_lora.alpaca.json", "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(OUT_DIR / "captain_lora.chat.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            msgs = [
                {"role": "user", "content": Builder.user_text(r["instruction"], r["input"])},
                {"role": "assistant", "content": r["output"]},
            ]
            f.write(json.dumps({"messages": msgs}, ensure_ascii=False) + "\n")
    with open(OUT_DIR / "eval_prompts.json", "w", encoding="utf-8") as f:
        json.dump(EVAL_PROMPTS, f, indent=1, ensure_ascii=False)
        f.write("\n")
    n_input = sum(1 for r in rows if r["input"])
    (OUT_DIR / "README.md").write_text(readme(len(rows), n_input), encoding="utf-8")
    print(f"wrote {len(rows)} rows ({n_input} with input) to {OUT_DIR}")


if __name__ == "__main__":
    main()
