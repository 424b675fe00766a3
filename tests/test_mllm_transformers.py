"""The transformers backend on a tiny randomly initialised model saved to disk here.

No real omni model can run on this machine (no weights, no GPU); these tests run the backend's
real loading, chat-template, generation and log-likelihood code on a two-layer Llama with a
word-level tokenizer and a hand-set chat template, and check the scores against a direct
computation with the same model. The Qwen2.5-Omni conversation layout is checked without weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from egoinstruct.labels import load_labels
from egoinstruct.mllm.backends import create_backend
from egoinstruct.mllm.backends.transformers_local import QWEN_OMNI_SYSTEM_PROMPT, build_conversation
from egoinstruct.mllm.stage import build_request
from egoinstruct.mllm.windows import Utterance, Window, WindowFrame, wav_bytes
from egoinstruct.paths import LABELS_DIR
from egoinstruct.settings.mllm import ModelSettings

from mllm_utils import model_settings

STATES = load_labels(LABELS_DIR, "states")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["[UNK]", "[BOS]", "[EOS]", "Answer:", "the", "learner", "instructor", "window", *STATES.labels]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", bos_token="[BOS]",
                                   eos_token="[EOS]", pad_token="[EOS]")
    fast.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}assistant: {% endif %}")
    folder = tmp_path_factory.mktemp("tiny-llama")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def model(folder, **raw) -> ModelSettings:
    base = {"backend": "transformers", "model_path": str(folder), "modalities": ["text"],
            "prompt_version": "completion-v1", "decoding": "loglik", "max_tokens": 6}
    return model_settings("tiny", **{**base, **raw})


def window() -> Window:
    return Window("s01", 0, 0.0, 8.0, utterances=(Utterance(1.0, 2.0, "S", "learner", "the learner asks"),))


@pytest.mark.slow
def test_loglik_scores_match_a_direct_computation(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = model(tiny_model)
    backend = create_backend(settings)
    backend.preflight()
    assert backend.identity()["revision"].startswith("files:")
    request, _ = build_request("states", window(), STATES, settings, None)
    response = backend.complete(request)
    assert set(response.scores) == set(STATES.labels)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    prompt_ids = tokenizer(request.text(), return_tensors="pt")["input_ids"]
    full_ids = tokenizer(request.text() + " silent_work", return_tensors="pt")["input_ids"]
    assert full_ids.shape[1] == prompt_ids.shape[1] + 1
    with torch.no_grad():
        logits = reference(full_ids).logits[0, -2]
    expected = float(torch.log_softmax(logits.float(), -1)[full_ids[0, -1]])
    assert math.isclose(response.scores["silent_work"], expected, rel_tol=1e-4, abs_tol=1e-4)


@pytest.mark.slow
def test_chat_generation_through_the_chat_template(tiny_model):
    settings = model(tiny_model, prompt_version="chat-v1", decoding="none")
    backend = create_backend(settings)
    backend.preflight()
    request, _ = build_request("states", window(), STATES, settings, None)
    response = backend.complete(request)
    assert 1 <= response.completion_tokens <= 6 and response.prompt_tokens > 50
    assert backend.complete(request).text == response.text  # greedy: deterministic


def test_qwen_omni_conversation_layout():
    settings = model_settings("q", backend="openai", base_url="http://127.0.0.1:9/v1", model="q",
                              modalities=["text", "image", "audio"], prompt_version="chat-v1", decoding="none")
    import cv2

    jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    w = Window("s01", 0, 0.0, 8.0, frames=(WindowFrame("cam", 1.0, jpeg),),
               audio_wav=wav_bytes(np.zeros(16000, np.float32), 16000), audio_rate_hz=16000)
    request, _ = build_request("states", w, STATES, settings, None)
    conversation, images, audios = build_conversation(request, qwen_omni=True)
    assert conversation[0] == {"role": "system", "content": [{"type": "text", "text": QWEN_OMNI_SYSTEM_PROMPT}]}
    kinds = [c["type"] for c in conversation[1]["content"]]
    assert kinds == ["text", "text", "image", "text", "audio", "text"]
    assert conversation[1]["content"][0]["text"].startswith("You label short windows")
    assert len(images) == 1 and images[0].size == (8, 8) and audios[0].shape == (16000,)
