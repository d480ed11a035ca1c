"""Synthetic diary text for scale benchmarks: sentences, questions, cached vectors and composed memories."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from memory.embeddings import Embedder, Vectors

NAMES = (
    "Ana Ben Clara David Elena Farid Grace Hugo Ines Jonas Keiko Liam Maria Nadia Omar Paula Quentin Rosa "
    "Samir Tessa Umar Vera Wen Ximena Yusuf Zoe"
).split()
RELATIONS = "sister brother mother father cousin neighbour boss colleague grandmother friend aunt uncle".split()
CITIES = (
    "Lisbon Porto Berlin Munich Paris Lyon Madrid Seville Rome Naples Vienna Prague Oslo Dublin Edinburgh "
    "Amsterdam Krakow Athens Istanbul Kyoto"
).split()
VENUES = (
    "cafe,park,gym,office,library,market,beach,bakery,museum,cinema,station,bookshop,pub,garden,harbour,"
    "climbing hall,swimming pool,concert hall"
).split(",")
FOODS = (
    "ramen paella lasagne sushi falafel pho risotto tacos curry dumplings goulash pancakes moussaka "
    "bibimbap croissants shakshuka gnocchi burritos empanadas kimchi stew couscous pierogi laksa"
).split()
JOBS = (
    "nurse,teacher,accountant,architect,electrician,chef,designer,lawyer,pharmacist,carpenter,translator,"
    "data analyst,journalist,mechanic,librarian"
).split(",")
PETS = "cat dog rabbit parrot hamster tortoise goldfish ferret".split()
PET_NAMES = "Pixel Biscuit Luna Mango Pepper Olive Noodle Ziggy Maple Socks Clementine Rocket".split()
HOBBIES = (
    "hiking painting chess running pottery knitting cycling baking photography gardening yoga climbing "
    "birdwatching guitar swimming sailing woodworking calligraphy"
).split()
FEELINGS = (
    "happy tired anxious proud relieved grateful nervous calm frustrated excited lonely hopeful bored "
    "content overwhelmed"
).split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April May June July August September October November December".split()
WEATHER = "rainy sunny foggy windy freezing humid snowy mild".split()

TEMPLATES = (
    "Had dinner with {name} at a {food} place in {city}; I felt {feeling} afterwards.",
    "My {rel} {name} started a new job as a {job} in {city} this {month}.",
    "Took {pet_name} the {pet} to the vet on {day}, she is doing fine now.",
    "Spent the {weather} {day} afternoon {hobby} near the {venue} with {name}.",
    "I cooked {food} for my {rel} on {day} and it came out better than last time.",
    "Felt {feeling} all week because of the deadline at work as a {job}.",
    "Met {name} at the {venue} in {city}, we talked about {hobby} for hours.",
    "Booked a trip to {city} in {month} to visit my {rel} {name}.",
    "On {day} I finally tried {hobby}; my {rel} says I should keep going.",
    "{name} told me she is moving to {city} in {month}, I am {feeling} for her.",
    "Our {pet} {pet_name} chewed my {rel}'s shoes while we were at the {venue}.",
    "It was {weather} in {city} so we stayed in and ate {food} with {name}.",
    "Signed up for a {hobby} class at the {venue} every {day} evening.",
    "My {rel} wants to become a {job}; we discussed it over {food} on {day}.",
    "Ran into my old friend {name} at the {venue} on a {weather} morning.",
    "I have been feeling {feeling} since the {month} trip to {city}.",
    "Bought fresh ingredients at the {venue} for {food}, {name} is coming over on {day}.",
    "The {job} interview in {city} went well, I was {feeling} but prepared.",
    "Walked {pet_name} the {pet} along the {venue} at {hour} o'clock, it was {weather}.",
    "Celebrated my {rel}'s birthday in {month} with {food} and a long walk in {city}.",
)
QUESTIONS = (
    "When did I last have {food} with {name}?",
    "What job did my {rel} start in {city}?",
    "How is {pet_name} the {pet} doing after the vet?",
    "Who did I go {hobby} with on a {weather} day?",
    "What did I cook for my {rel}?",
    "Why was I feeling {feeling} at work?",
    "Where did I meet {name} to talk about {hobby}?",
    "When is my trip to {city} to see my {rel}?",
    "Did I keep going with {hobby} after my {rel} encouraged me?",
    "Is {name} really moving to {city}?",
    "What happened with my {rel}'s shoes and the {pet}?",
    "What did we eat when it was {weather} in {city}?",
    "Which evening is my {hobby} class?",
    "Does my {rel} still want to be a {job}?",
    "Where did I run into {name}?",
    "How did the {job} interview in {city} go?",
)
Progress = Callable[[str, int, int], None]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        name=rng.choice(NAMES),
        rel=rng.choice(RELATIONS),
        city=rng.choice(CITIES),
        venue=rng.choice(VENUES),
        food=rng.choice(FOODS),
        job=rng.choice(JOBS),
        pet=rng.choice(PETS),
        pet_name=rng.choice(PET_NAMES),
        hobby=rng.choice(HOBBIES),
        feeling=rng.choice(FEELINGS),
        day=rng.choice(DAYS),
        month=rng.choice(MONTHS),
        weather=rng.choice(WEATHER),
        hour=rng.randint(6, 21),
    )


def _distinct(templates: tuple[str, ...], count: int, seed: int, avoid: frozenset[str] = frozenset()) -> list[str]:
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    for _ in range(count * 50):  # the slot space is vast; this only bounds a pathological count
        if len(seen) >= count:
            break
        text = _fill(rng.choice(templates), rng)
        if text not in avoid:
            seen.setdefault(text)
    return list(seen)


def diary_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct diary-like sentences, the same for the same seed."""
    return _distinct(TEMPLATES, count, seed)


def questions(count: int, seed: int = 0, *, avoid: list[str] | None = None) -> list[str]:
    """``count`` distinct questions about the same life, none equal to a sentence in ``avoid``."""
    return _distinct(QUESTIONS, count, seed + 1, frozenset(avoid or ()))


def _read_cache(path: Path, shape: tuple[int, int]) -> Vectors | None:
    if not path.exists():
        return None
    cached = np.load(path)
    return np.asarray(cached, dtype=np.float32) if cached.shape == shape else None


def _write_cache(path: Path, vectors: Vectors) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as out:
        np.save(out, vectors)
    partial.replace(path)  # atomic, so a concurrent or interrupted run never reads half a file


async def cached_vectors(
    embedder: Embedder, texts: list[str], cache_dir: Path, *, batch: int = 32, progress: Progress | None = None
) -> Vectors:
    """Passage vectors of ``texts``, read from ``cache_dir`` when embedded before with the same model."""
    key = hashlib.sha256("\0".join([embedder.name, str(embedder.dim), *texts]).encode()).hexdigest()[:24]
    path = cache_dir / f"{key}.npy"
    cached = _read_cache(path, (len(texts), embedder.dim))
    if cached is not None:
        return cached
    rows = []
    for start in range(0, len(texts), batch):
        rows.append(await embedder.passages(texts[start : start + batch]))
        if progress:
            progress("embedding sentences", min(start + batch, len(texts)), len(texts))
    vectors = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, embedder.dim), np.float32)
    _write_cache(path, vectors)
    return vectors


class Composer:
    """Memory ``i`` is sentence ``a`` + " " + sentence ``b``, its vector the normalised sum of theirs."""

    def __init__(self, sentences: list[str], vectors: Vectors, total: int, seed: int = 0) -> None:
        if len(sentences) < 2:
            raise ValueError("composing memories needs at least two sentences")
        self.sentences = sentences
        self.vectors = vectors
        rng = np.random.default_rng(seed)
        first = rng.integers(0, len(sentences), size=total)
        step = rng.integers(1, len(sentences), size=total)  # never 0, so b != a
        self.pairs = np.stack([first, (first + step) % len(sentences)], axis=1)
        self.age_days = rng.uniform(0, 730, size=total)

    def texts(self, start: int, stop: int) -> list[str]:
        return [f"{self.sentences[a]} {self.sentences[b]}" for a, b in self.pairs[start:stop]]

    def embeddings(self, start: int, stop: int) -> Vectors:
        pairs = self.pairs[start:stop]
        summed = self.vectors[pairs[:, 0]] + self.vectors[pairs[:, 1]]
        norms = np.linalg.norm(summed, axis=1, keepdims=True)
        return (summed / np.where(norms == 0, 1, norms)).astype(np.float32)
