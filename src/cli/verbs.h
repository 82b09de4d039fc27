/* The verbs of `ember`, in the order `ember --help` lists them. Each is int cmd_<name>(int argc, char **argv).
 * To add one: write src/cli/cmd_<name>.c and add a line here. */
#define EMBER_VERBS(X)                                                                                       \
    X(version, "print the version and what this CPU supports")                                            \
    X(tokenize, "encode text to token ids (tokenizer.json, GGUF, tokenizer.bin)")                          \
    X(detokenize, "decode token ids to text")
