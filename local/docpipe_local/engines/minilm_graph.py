"""all-MiniLM-L6-v2 as an OpenVINO graph, built from the model's own float32 weights (``model.safetensors``).

The graph is BERT as ``transformers`` computes it (``BertModel``, absolute positions, token type 0, erf GELU,
LayerNorm eps 1e-12) followed by sentence-transformers' mean pooling, so its output is the pooled,
not yet normalized, sentence vector. Building it here from the weights (instead of loading an exported ONNX
file) keeps the float32 weights exact and gives OpenVINO a graph it fuses well: one scaled-dot-product
attention per layer and MatMuls on constant weights, which its CPU plugin runs in bfloat16 on CPUs with
native bfloat16 (AMX, AVX512-BF16) and in float32 elsewhere.

Inputs: ``input_ids`` and ``attention_mask``, int64 (batch, sequence), sequences padded on the right.
Output: ``pooled``, float32 (batch, 384).
"""

from __future__ import annotations

import numpy as np

HIDDEN, HEADS, LAYERS, LAYER_NORM_EPS = 384, 12, 6, 1e-12


def build_model(weights: dict[str, np.ndarray]):
    """The OpenVINO model for a ``BertModel`` state dict of all-MiniLM-L6-v2 (names as in model.safetensors)."""
    import openvino as ov
    import openvino.opset13 as ops

    def const(name: str) -> ov.Node:
        return ops.constant(np.ascontiguousarray(weights[name], dtype=np.float32))

    def dense(x, prefix: str):
        # weights are stored (out, in), as torch.nn.Linear keeps them
        return ops.add(ops.matmul(x, const(prefix + ".weight"), False, True), const(prefix + ".bias"))

    def layer_norm(x, prefix: str):
        normalized = ops.mvn(x, ops.constant(np.array([-1], dtype=np.int64)), True, LAYER_NORM_EPS, "inside_sqrt")
        return ops.add(ops.multiply(normalized, const(prefix + ".weight")), const(prefix + ".bias"))

    def split_heads(x):  # (B, S, 384) -> (B, 12, S, 32)
        shaped = ops.reshape(x, ops.constant(np.array([0, 0, HEADS, HIDDEN // HEADS], dtype=np.int64)), True)
        return ops.transpose(shaped, ops.constant(np.array([0, 2, 1, 3], dtype=np.int64)))

    input_ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
    attention_mask = ops.parameter([-1, -1], ov.Type.i64, name="attention_mask")
    axis0 = ops.constant(np.int64(0))

    # embeddings: words + positions + token type 0 (always 0 for one-segment input, so folded into positions)
    sequence = ops.gather(ops.shape_of(input_ids), ops.constant(np.int64(1)), axis0)
    positions = ops.range(ops.constant(np.int64(0)), sequence, ops.constant(np.int64(1)), ov.Type.i64)
    position_table = weights["embeddings.position_embeddings.weight"] + weights["embeddings.token_type_embeddings.weight"][0]
    x = ops.add(ops.gather(const("embeddings.word_embeddings.weight"), input_ids, axis0),
                ops.gather(ops.constant(position_table.astype(np.float32)), positions, axis0))
    x = layer_norm(x, "embeddings.LayerNorm")

    # padding is masked out of attention with a large negative bias, (B, 1, 1, S)
    mask = ops.convert(attention_mask, ov.Type.f32)
    bias = ops.multiply(ops.subtract(ops.constant(np.float32(1.0)), mask), ops.constant(np.float32(-1e9)))
    bias = ops.unsqueeze(bias, ops.constant(np.array([1, 2], dtype=np.int64)))

    for layer in range(LAYERS):
        prefix = f"encoder.layer.{layer}."
        attention = prefix + "attention."
        heads = ops.scaled_dot_product_attention(
            split_heads(dense(x, attention + "self.query")), split_heads(dense(x, attention + "self.key")),
            split_heads(dense(x, attention + "self.value")), bias, causal=False)
        merged = ops.reshape(ops.transpose(heads, ops.constant(np.array([0, 2, 1, 3], dtype=np.int64))),
                             ops.constant(np.array([0, 0, HIDDEN], dtype=np.int64)), True)
        x = layer_norm(ops.add(dense(merged, attention + "output.dense"), x), attention + "output.LayerNorm")
        hidden = ops.gelu(dense(x, prefix + "intermediate.dense"), "erf")
        x = layer_norm(ops.add(dense(hidden, prefix + "output.dense"), x), prefix + "output.LayerNorm")

    # mean pooling over the real tokens
    weights_3d = ops.unsqueeze(mask, ops.constant(np.array([2], dtype=np.int64)))
    summed = ops.reduce_sum(ops.multiply(x, weights_3d), ops.constant(np.array([1], dtype=np.int64)), False)
    counts = ops.maximum(ops.reduce_sum(weights_3d, ops.constant(np.array([1], dtype=np.int64)), False),
                         ops.constant(np.float32(1e-9)))
    pooled = ops.divide(summed, counts)
    pooled.get_output_tensor(0).set_names({"pooled"})
    return ov.Model([pooled], [input_ids, attention_mask], "all-MiniLM-L6-v2")
