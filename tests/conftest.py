import warnings

# compressai → torch_geometric prints a FutureWarning about torch.jit.script
# at import; it is not ours and says nothing about our code.
warnings.filterwarnings("ignore", message=".*torch.jit.script.*",
                        category=FutureWarning)
