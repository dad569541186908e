"""lic_lib: the helper library of the book *Learned image compression,
progressive models and overfitting*.

Import the submodules you need (``from lic_lib import metrics``); importing
the package itself loads nothing heavy and changes no global state.
"""

__version__ = "0.1.0"
