"""The study's inputs: the codebook, params, and coded data read, validated, synthesised and imported."""
