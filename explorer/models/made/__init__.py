"""The project's own models, each a module with its files' format:

- `gguf_cache`: SmolLM2's packaged GGUF file dequantised once into a float32 safetensors folder;
- `bidirectional`: a causal LM read with full attention in its top blocks (a masked LM sharing its weights),
  and `bidirectional_artifact`: its trained updates on disk (the offline SmolLM2-MLM);
- `minilm_mlm`: the BERT-style MiniLM-MLM's artefact (all-MiniLM-L6-v2 with a trained masked-LM head);
- `bfloat16`: bfloat16 matrix products over shared float32 weights (the SmolLM2-MLM's blocks).

The modules are imported where they are used, not here: `bidirectional` and `bfloat16` bring in torch and
transformers' Llama code, which only loading a masked LM needs.
"""

__all__ = ["gguf_cache", "bidirectional", "bidirectional_artifact", "minilm_mlm", "bfloat16"]
