/* The verbs of `ember`, in the order `ember --help` lists them. Each is int cmd_<name>(int argc, char **argv);
 * on the command line '_' in a name is written '-' (llm_bench is `ember llm-bench`).
 * To add one: write src/cli/cmd_<name>.c and add a line here (every line ends with a backslash). */
#define EMBER_VERBS(X)                                                                                       \
    X(run, "run an ONNX model on input files or random inputs")                                              \
    X(dump, "describe an ONNX model: inputs, outputs, ops, parameters, FLOPs, per-op time")                  \
    X(test, "run ONNX test directories (model.onnx + test_data_set_N) and compare outputs")                  \
    X(bench, "time an ONNX model: median/min/max ms, load time, peak memory")                                \
    X(show, "print the tensors in .npy, .npz and .pb files")                                                 \
    X(convert, "convert tensor files between .npy, .npz and .pb")                                            \
    X(tokenize, "encode text to token ids (tokenizer.json, GGUF, tokenizer.bin)")                            \
    X(detokenize, "decode token ids to text")                                                                \
    X(generate, "continue a prompt with a language model (streamed text)")                                  \
    X(chat, "chat with a language model (multi-turn, its chat template)")                                   \
    X(logits, "next-token logits of a language model for token ids")                                         \
    X(llm_bench, "prompt and generation speed of a language model (tokens/s)")                               \
    X(quantize, "convert a GGUF model's weights to another type (Q4_0, Q8_0, Q4_K, ...)")                    \
    X(face, "face recognition: detect, enroll, identify, verify, watch a camera (ember face --help)")        \
    X(version, "print the version and what this CPU supports")                                               \
    /* end of list */
