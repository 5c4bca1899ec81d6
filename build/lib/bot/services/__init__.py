"""Speech and language services: the embedded offline engines and the cloud providers."""

from pipecat.services.settings import LLMSettings


def unsampled_llm_settings(model: str) -> LLMSettings:
    """Settings for an LLM service that samples nothing (every field set, as Pipecat requires)."""
    return LLMSettings(
        model=model,
        system_instruction=None,
        temperature=None,
        max_tokens=None,
        top_p=None,
        top_k=None,
        frequency_penalty=None,
        presence_penalty=None,
        seed=None,
        filter_incomplete_user_turns=False,
        user_turn_completion_config=None,
    )
