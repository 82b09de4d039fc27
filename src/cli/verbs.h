/* The verbs of `ember`, in the order `ember --help` lists them. Each is int cmd_<name>(int argc, char **argv).
 * To add one: write src/cli/cmd_<name>.c and add a line here. */
#define EMBER_VERBS(X)                                                                                       \
    X(version, "print the version and what this CPU supports")                                               \
    X(logits, "next-token logits of a language model for token ids")                                         \
    X(llm_bench, "prompt and generation speed of a language model (tokens/s)")                              \
    X(quantize, "convert a GGUF model's weights to another type (Q4_0, Q8_0, Q4_K, ...)")
