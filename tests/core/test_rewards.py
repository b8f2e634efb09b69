"""GRPO rewards: each preset on hand-written completions, weights, the column check, user files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from studio.core.rewards import (
    PRESETS,
    CombinedReward,
    Contains,
    ExactMatch,
    Excludes,
    JsonSchema,
    LengthWindow,
    NumericMatch,
    Regex,
    RewardSettingsError,
    UserReward,
    UserRewardError,
    WeightedReward,
    combined_from_specs,
    parse_number,
    reward_from_spec,
)


def as_messages(text: str) -> list[dict[str, str]]:
    """The conversational form TRL passes for a messages dataset."""
    return [{"role": "assistant", "content": text}]


def both_forms(texts: list[str]) -> list[list]:
    """The same completions as strings and as message lists: every preset must score both alike."""
    return [list(texts), [as_messages(text) for text in texts]]


def test_every_preset_is_registered_with_a_description():
    for kind, preset in PRESETS.items():
        assert preset.kind == kind and preset.description
    assert set(PRESETS) == {"exact_match", "numeric_match", "regex", "length_window", "contains",
                            "excludes", "json_schema"}


@pytest.mark.parametrize("form", [0, 1])
def test_exact_match_reads_the_answer_tag_or_last_line(form):
    texts = ["Thinking...\n<answer> Paris </answer>", "It is\nPARIS", "<answer>Lyon</answer>", ""]
    completions = both_forms(texts)[form]
    assert ExactMatch()(None, completions, answer=["paris"] * 4) == [1.0, 1.0, 0.0, 0.0]
    strict = ExactMatch(ignore_case=False)
    assert strict(None, completions, answer=["paris"] * 4) == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("text", ["1,234", "1234.0", "$1234", "so the total is 1234.", "1234 dollars"])
def test_numbers_parse_in_their_common_spellings(text):
    assert parse_number(text) == 1234.0


@pytest.mark.parametrize("form", [0, 1])
def test_numeric_match_prefers_the_answer_tag_over_the_last_number(form):
    texts = ["<answer>$1,234</answer> checked in 3 steps", "3 + 4 = 7, so 7", "7.004", "no number"]
    completions = both_forms(texts)[form]
    reward = NumericMatch(tolerance=0.01)
    assert reward(None, completions, answer=[1234, "7", 7.0, 1]) == [1.0, 1.0, 1.0, 0.0]
    assert NumericMatch()(None, completions[2:3], answer=[7.0]) == [0.0]  # outside 1e-6


@pytest.mark.parametrize("form", [0, 1])
def test_regex_checks_the_think_answer_format(form):
    texts = ["<think>\n2+2\n</think>\n<answer>4</answer>", "<answer>4</answer>",
             "<think>x</think><answer>4</answer> trailing words"]
    completions = both_forms(texts)[form]
    assert Regex()(None, completions) == [1.0, 0.0, 0.0]
    assert Regex(pattern=r"<answer>\d+</answer>", mode="search")(None, completions) == [1.0, 1.0, 1.0]


def test_length_window_is_one_inside_and_falls_off_linearly():
    reward = LengthWindow(min_length=2, max_length=4, unit="words", falloff=4)
    texts = ["one", "one two three", "a b c d e f", "a b c d e f g h i j"]
    assert reward(None, texts) == [0.75, 1.0, 0.5, 0.0]
    chars = LengthWindow(min_length=0, max_length=10, unit="chars")  # falloff: half of 10
    assert chars(None, [as_messages("x" * 10), as_messages("x" * 12)]) == [1.0, 0.6]


def test_contains_and_excludes_count_whole_words():
    texts = ["The cat sat on the mat", "A category of dogs", "CAT and DOG"]
    words = ["cat", "dog"]
    assert Contains(words=words)(None, texts) == [0.5, 0.0, 1.0]
    assert Excludes(words=words)(None, both_forms(texts)[1]) == [0.5, 1.0, 0.0]
    assert Contains(words=["cat"], whole_word=False)(None, texts[1:2]) == [1.0]


def test_json_schema_reads_a_fenced_block_or_the_whole_completion():
    schema = {"type": "object", "required": ["name", "age"],
              "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    texts = ['{"name": "Ada", "age": 36}', 'Here it is:\n```json\n{"name": "Ada", "age": 36}\n```',
             '{"name": "Ada"}', "{not json", '```json\n{"name": "Ada", "age": "old"}\n```']
    for completions in both_forms(texts):
        assert JsonSchema(schema=schema)(None, completions) == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_invalid_settings_list_every_problem_at_once():
    with pytest.raises(RewardSettingsError, match=r"mode.*pattern"):
        Regex(pattern="(", mode="anywhere")
    with pytest.raises(RewardSettingsError, match=r"min_length.*max_length"):
        LengthWindow(min_length=-1, max_length=0)
    with pytest.raises(RewardSettingsError, match="tolerance"):
        NumericMatch(tolerance=-1)
    with pytest.raises(RewardSettingsError, match="words"):
        Contains(words=[])
    with pytest.raises(RewardSettingsError, match="JSON Schema"):
        JsonSchema(schema={"type": "no-such-type"})
    with pytest.raises(RewardSettingsError, match="its settings are"):
        reward_from_spec({"kind": "regex", "patern": "x"})
    with pytest.raises(RewardSettingsError, match="unknown reward kind"):
        reward_from_spec({"kind": "bleu"})


def test_weights_sum_and_each_function_keeps_its_own_scores():
    combined = CombinedReward([WeightedReward(NumericMatch(), 2.0),
                               WeightedReward(Regex(), 0.5), NumericMatch(column="alt")])
    completions = ["<think>hm</think><answer>4</answer>", "5"]
    scores = combined.score(["q1", "q2"], completions, answer=[4, 4], alt=[5, 5], trainer_state=None)
    assert combined.labels == ["numeric_match", "regex", "numeric_match_2"]
    assert scores.per_function == {"numeric_match": [1.0, 0.0], "regex": [1.0, 0.0],
                                   "numeric_match_2": [0.0, 1.0]}
    assert scores.total == [2.5, 1.0]
    assert scores.means() == {"numeric_match": 0.5, "regex": 0.5, "numeric_match_2": 0.5}
    assert combined(None, completions, answer=[4, 4], alt=[5, 5]) == [2.5, 1.0]
    functions = combined.trl_functions()
    assert [function.__name__ for function in functions] == combined.labels
    assert combined.weights() == [2.0, 0.5, 1.0]
    assert functions[2](None, completions, answer=[4, 4], alt=[5, 5]) == [0.0, 1.0]


def test_a_reward_reading_a_missing_column_is_an_error_before_training():
    combined = combined_from_specs([{"kind": "exact_match", "column": "solution", "weight": 1},
                                    {"kind": "regex", "label": "format"}])
    assert combined.columns_read() == {"exact_match": ("solution",), "format": ()}
    assert combined.column_problems(["prompt", "solution"]) == []
    with pytest.raises(RewardSettingsError) as raised:
        combined.check_columns(["prompt", "answer"])
    assert "'solution'" in str(raised.value) and "its columns are answer, prompt" in str(raised.value)
    with pytest.raises(RewardSettingsError, match="at least one"):
        CombinedReward([])


def write_reward_file(tmp_path: Path, body: str, name: str = "my_reward.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_a_user_file_that_works_scores_both_forms_and_declares_its_columns(tmp_path):
    path = write_reward_file(tmp_path, """
        COLUMNS = ["answer"]

        def reward(prompts, completions, answer, **columns):
            texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
            return [1 if a in t else 0.0 for t, a in zip(texts, answer)]
        """)
    reward = reward_from_spec({"kind": "file", "path": str(path)})
    assert isinstance(reward, UserReward) and reward.columns() == ("answer",)
    for completions in both_forms(["it is 4", "it is 5"]):
        assert reward(None, completions, answer=["4", "4"], trainer_state=None) == [1.0, 0.0]
    combined = CombinedReward([reward, Regex(mode="search", pattern="5")])
    assert combined.labels == ["file:my_reward.py", "regex"]
    assert combined.column_problems(["prompt"]) != []


def test_a_user_file_that_raises_names_the_file_and_its_line(tmp_path):
    path = write_reward_file(tmp_path, """
        def helper(text):
            return 1 / len(text)

        def reward(prompts, completions, **columns):
            return [helper(c) for c in completions]
        """)
    reward = UserReward(path)
    assert reward(None, ["ab"]) == [0.5]
    with pytest.raises(UserRewardError) as raised:
        reward(None, ["ok", ""])
    message = str(raised.value)
    assert f"{path.resolve()}, line 3" in message and "ZeroDivisionError" in message


def test_a_user_file_returning_the_wrong_length_or_a_non_number_says_so(tmp_path):
    short = UserReward(write_reward_file(tmp_path, """
        def reward(prompts, completions, **columns):
            return [1.0]
        """, "short.py"))
    with pytest.raises(UserRewardError, match="returned 1 scores for 2 completions"):
        short(None, ["a", "b"])
    wordy = UserReward(write_reward_file(tmp_path, """
        def reward(prompts, completions, **columns):
            return ["good" for _ in completions]
        """, "wordy.py"))
    with pytest.raises(UserRewardError, match="'good' at position 0"):
        wordy(None, ["a"])


def test_a_user_file_that_cannot_load_or_lacks_reward_is_reported(tmp_path):
    with pytest.raises(UserRewardError, match=r"broken.py, line 2: syntax error"):
        UserReward(write_reward_file(tmp_path, "x = 1\ndef reward(:\n", "broken.py"))
    with pytest.raises(UserRewardError, match="must define a function"):
        UserReward(write_reward_file(tmp_path, "rewards = 1\n", "nameless.py"))
    with pytest.raises(UserRewardError, match="does not exist"):
        UserReward(tmp_path / "missing.py")


def test_keyboard_interrupt_in_a_user_file_is_not_swallowed(tmp_path):
    reward = UserReward(write_reward_file(tmp_path, """
        def reward(prompts, completions, **columns):
            raise KeyboardInterrupt
        """))
    with pytest.raises(KeyboardInterrupt):
        reward(None, ["a"])


def test_rewards_accept_trl_keyword_call_with_its_extra_arguments():
    """TRL calls ``f(prompts=, completions=, completion_ids=, **columns, trainer_state=, log_extra=, ...)``."""
    combined = combined_from_specs([{"kind": "numeric_match"}, {"kind": "length_window", "max_length": 5}])
    extras = {"completion_ids": [[1], [2]], "trainer_state": None, "log_extra": print, "log_metric": print}
    prompts = [[{"role": "user", "content": "2+2?"}]] * 2
    completions = [as_messages("4"), as_messages("five")]
    for function in [combined, *combined.trl_functions()]:
        assert len(function(prompts=prompts, completions=completions, answer=[4, 4], **extras)) == 2
    assert combined(prompts=prompts, completions=completions, answer=[4, 4], **extras) == [2.0, 1.0]
