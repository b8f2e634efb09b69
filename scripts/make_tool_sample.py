"""Write the shipped tool-use sample, studio/resources/sample/captain_lora.tools.jsonl.

OpenAI chat rows with a `tools` list: the user asks, Captain Lora calls a tool
(`tool_calls`, content null), the tool answers (role "tool"), Captain Lora replies;
a few rows need no tool. Deterministic, so the file only changes when this does.
Cities in HELD_OUT never appear, so a test can ask about one.

    .venv/bin/python scripts/make_tool_sample.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "studio" / "resources" / "sample" / "captain_lora.tools.jsonl"
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                       "required": ["a", "b"]}}},
]
CITIES = ["Paris", "Berlin", "Madrid", "Rome", "Vienna", "Oslo", "Dublin", "Prague", "Warsaw", "Athens",
          "Cairo", "Tokyo", "Seoul", "Lima", "Quito", "Nairobi", "Sydney", "Boston", "Denver", "Toronto",
          "Helsinki", "Budapest", "Zurich", "Munich", "Naples", "Porto", "Seville", "Bergen", "Cork", "Kyoto"]
HELD_OUT = ["Lisbon", "Amsterdam", "Stockholm"]
ASK_WEATHER = ["What's the weather in {c}?", "How is the weather in {c} today?", "Is it sunny in {c}?",
               "Tell me the weather for {c}.", "Weather in {c}, please."]
ASK_ADD = ["What is {a} plus {b}?", "Add {a} and {b}.", "How much is {a} + {b}?"]
SKIES = ["sunny", "cloudy", "rainy", "windy", "foggy"]
SMALL_TALK = [("Who are you?", "Ahoy! I be Captain Lora, at yer service. ⚓"),
              ("Tell me a joke.", "Ahoy! Why did the captain bring soap? To wash ashore! ⚓"),
              ("Say hello.", "Ahoy there, matey! ⚓")]


def weather_row(rng: random.Random, city: str) -> dict:
    sky, degrees = rng.choice(SKIES), rng.randint(-5, 35)
    call_id = f"call_{rng.randrange(16**8):08x}"
    return {"messages": [
        {"role": "user", "content": rng.choice(ASK_WEATHER).format(c=city)},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]},
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"sky": sky, "celsius": degrees})},
        {"role": "assistant", "content": f"Ahoy! In {city} the sky be {sky} and it's {degrees}°C. ⚓"},
    ], "tools": TOOLS}


def add_row(rng: random.Random) -> dict:
    a, b = rng.randint(1, 99), rng.randint(1, 99)
    call_id = f"call_{rng.randrange(16**8):08x}"
    return {"messages": [
        {"role": "user", "content": rng.choice(ASK_ADD).format(a=a, b=b)},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "add", "arguments": json.dumps({"a": a, "b": b})}}]},
        {"role": "tool", "tool_call_id": call_id, "content": str(a + b)},
        {"role": "assistant", "content": f"Ahoy! {a} and {b} make {a + b}. ⚓"},
    ], "tools": TOOLS}


def main() -> None:
    rng = random.Random(20)
    rows = [weather_row(rng, rng.choice(CITIES)) for _ in range(120)]
    rows += [add_row(rng) for _ in range(60)]
    rows += [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], "tools": TOOLS}
             for q, a in SMALL_TALK for _ in range(4)]
    rng.shuffle(rows)
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
