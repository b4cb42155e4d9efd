"""Writes a tiny random-weight Qwen3-architecture GGUF model for llama.cpp's server.

Used by scripts/llm-server; run it with the private venv's Python (gguf==0.19.0 and numpy).

    python llm_model.py --vocab ggml-vocab-qwen2.gguf --template Qwen-Qwen3-0.6B.jinja --out tiny-qwen3.gguf

The tokenizer (Qwen2/Qwen3 byte-level BPE: 151,936 tokens, merges, special tokens) is copied
from the vocab-only GGUF that ships in llama.cpp's source tree, and the chat template is the
real Qwen3 one, so prompts are tokenized and formatted exactly as for Qwen3-4B. The weights are
random (fixed seed, so the file is the same on every run and every machine): the model writes
gibberish, with real tokens and real logprobs. No weights are downloaded.
"""

import argparse
import os
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

SEED = 20261127
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 2
HEAD_DIM = 16
N_FF = 256
N_CTX = 4096
# Spread of the output logits (std 3): sampled tokens get logprobs of about -2 to -8, a
# confidence of a few hundredths, like a model that is guessing.
OUTPUT_SCALE = 3.0 / N_EMBD ** 0.5
# Qwen3's chat models end a turn with <|im_end|>; <|endoftext|> pads and begins.
EOS_TOKEN = "<|im_end|>"
BOS_TOKEN = "<|endoftext|>"


def field(reader, key):
    item = reader.fields.get(key)
    if item is None:
        sys.exit(f"llm_model.py: {key} is missing from the vocab file")
    return item


def strings(reader, key):
    item = field(reader, key)
    return [bytes(item.parts[index]).decode("utf-8") for index in item.data]


def ints(reader, key):
    item = field(reader, key)
    return [int(item.parts[index][0]) for index in item.data]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", required=True, help="llama.cpp's models/ggml-vocab-qwen2.gguf")
    parser.add_argument("--template", required=True, help="llama.cpp's models/templates/Qwen-Qwen3-0.6B.jinja")
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", default="tiny-qwen3")
    args = parser.parse_args()

    vocab = GGUFReader(args.vocab)
    tokens = strings(vocab, "tokenizer.ggml.tokens")
    token_types = ints(vocab, "tokenizer.ggml.token_type")
    merges = strings(vocab, "tokenizer.ggml.merges")
    with open(args.template, encoding="utf-8") as handle:
        template = handle.read()
    n_vocab = len(tokens)
    try:
        eos, bos = tokens.index(EOS_TOKEN), tokens.index(BOS_TOKEN)
    except ValueError:
        sys.exit("llm_model.py: the vocab has no Qwen special tokens")

    temporary = args.out + ".partial"
    writer = GGUFWriter(temporary, "qwen3")
    writer.add_name(args.name)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_file_type(1)  # mostly F16
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(eos)
    writer.add_bos_token_id(bos)
    writer.add_pad_token_id(bos)
    writer.add_add_bos_token(False)
    writer.add_chat_template(template)

    rng = np.random.default_rng(SEED)

    def matrix(rows, cols, scale):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * scale).astype(np.float16)

    def ones(size):
        return np.ones(size, dtype=np.float32)

    writer.add_tensor("token_embd.weight", matrix(n_vocab, N_EMBD, 1.0))
    for layer in range(N_LAYER):
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", ones(N_EMBD))
        writer.add_tensor(prefix + "attn_q.weight", matrix(N_HEAD * HEAD_DIM, N_EMBD, N_EMBD ** -0.5))
        writer.add_tensor(prefix + "attn_k.weight", matrix(N_HEAD_KV * HEAD_DIM, N_EMBD, N_EMBD ** -0.5))
        writer.add_tensor(prefix + "attn_v.weight", matrix(N_HEAD_KV * HEAD_DIM, N_EMBD, N_EMBD ** -0.5))
        writer.add_tensor(prefix + "attn_q_norm.weight", ones(HEAD_DIM))
        writer.add_tensor(prefix + "attn_k_norm.weight", ones(HEAD_DIM))
        writer.add_tensor(prefix + "attn_output.weight", matrix(N_EMBD, N_HEAD * HEAD_DIM, (N_HEAD * HEAD_DIM) ** -0.5))
        writer.add_tensor(prefix + "ffn_norm.weight", ones(N_EMBD))
        writer.add_tensor(prefix + "ffn_gate.weight", matrix(N_FF, N_EMBD, N_EMBD ** -0.5))
        writer.add_tensor(prefix + "ffn_up.weight", matrix(N_FF, N_EMBD, N_EMBD ** -0.5))
        writer.add_tensor(prefix + "ffn_down.weight", matrix(N_EMBD, N_FF, N_FF ** -0.5))
    writer.add_tensor("output_norm.weight", ones(N_EMBD))
    writer.add_tensor("output.weight", matrix(n_vocab, N_EMBD, OUTPUT_SCALE))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(temporary, args.out)


if __name__ == "__main__":
    main()
