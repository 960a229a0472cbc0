"""A call's cache and journal key covers everything that changes the answer."""

from hetflow.runtime.cache import call_hash

MESSAGES = [{"role": "user", "content": "Is clause 3 risky?"}]
PARAMS = {"temperature": 0, "max_tokens": 200, "response_format": None}


def test_the_key_changes_with_each_part_of_the_call():
    base = call_hash("openai/gpt-5", "http://a.example/v1", MESSAGES, PARAMS)
    assert base == call_hash("openai/gpt-5", "http://a.example/v1", list(MESSAGES), dict(PARAMS))
    others = [
        call_hash("openai/gpt-5-mini", "http://a.example/v1", MESSAGES, PARAMS),
        call_hash("openai/gpt-5", "http://b.example/v1", MESSAGES, PARAMS),
        call_hash("openai/gpt-5", None, MESSAGES, PARAMS),
        call_hash(
            "openai/gpt-5", "http://a.example/v1", [{"role": "user", "content": "?"}], PARAMS
        ),
        call_hash("openai/gpt-5", "http://a.example/v1", MESSAGES, {**PARAMS, "temperature": 0.7}),
        call_hash("openai/gpt-5", "http://a.example/v1", MESSAGES, {**PARAMS, "max_tokens": 50}),
        call_hash(
            "openai/gpt-5",
            "http://a.example/v1",
            MESSAGES,
            {**PARAMS, "response_format": {"type": "json_object"}},
        ),
    ]
    assert base not in others and len(set(others)) == len(others)
